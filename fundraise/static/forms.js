// Small helpers for the forms (templates/_forms.html); the pages work without them.
(function () {
  "use strict";

  // Text boxes with a limit show how much is left as you type or paste, and say so when the text is too
  // long; nothing is cut off. The server refuses an over-long text with the same limit.
  function update(box, counter) {
    var limit = parseInt(counter.getAttribute("data-limit"), 10);
    var used = Array.from(box.value).length; // characters, not UTF-16 units: 汉字 and emoji count once
    var over = used - limit;
    counter.classList.toggle("over", over > 0);
    counter.textContent = over > 0
      ? counter.getAttribute("data-over").replace("{n}", over.toLocaleString())
      : used.toLocaleString() + " / " + limit.toLocaleString();
  }
  document.querySelectorAll("textarea[data-limit]").forEach(function (box) {
    var counter = document.getElementById(box.id + "-count");
    if (!counter) return;
    box.addEventListener("input", function () { update(box, counter); });
    update(box, counter);
  });

  // After a refused submit: the title says so and focus lands on the summary of what to correct.
  var summary = document.querySelector(".error-summary");
  if (summary) {
    document.title = summary.getAttribute("data-title-prefix") + document.title;
    summary.focus();
  }
})();
