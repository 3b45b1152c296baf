"""What people wrote carries its own language: Chinese titles, stories, names and donor messages are marked
lang="zh-CN" on English pages (a screen reader switches voice), English ones lang="en" on Chinese pages, and
nothing is marked where the text is in the page's language."""

from __future__ import annotations

import re

from flask import Flask

from fundraise.public.presenters import actor_text
from tests.web.donations import fundraising, pay_directly


def page(app: Flask, path: str, language: str) -> str:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client.get(path).get_data(as_text=True)


def test_chinese_content_is_marked_on_english_pages_and_english_content_on_chinese_pages(app: Flask) -> None:
    chinese = fundraising(title="请帮助小明战胜白血病", story="小明今年七岁。")
    english = fundraising(title="Help Ming beat leukaemia", story="Ming is seven.", patient_id_sequence=5)
    pay_directly(chinese, 500, display_name="王五", message="加油，早日康复")

    on_english = page(app, f"/campaigns/{chinese.id}", "en")
    assert re.search(r'<h1 lang="zh-CN">请帮助小明战胜白血病</h1>', on_english)
    assert re.search(r'<div class="story" lang="zh-CN">小明今年七岁。</div>', on_english)
    assert re.search(r'<p class="gift-message" lang="zh-CN">加油，早日康复</p>', on_english)
    assert re.search(r'<span class="gift-name" lang="zh-CN">王\*+</span>', on_english)

    on_chinese = page(app, f"/campaigns/{chinese.id}", "zh-CN")
    assert "<h1>请帮助小明战胜白血病</h1>" in on_chinese  # the page's own language: no mark

    english_on_chinese = page(app, f"/campaigns/{english.id}", "zh-CN")
    assert '<h1 lang="en">Help Ming beat leukaemia</h1>' in english_on_chinese
    browse = page(app, "/campaigns", "en")
    assert 'class="card-title" lang="zh-CN"' in browse


def test_the_hospital_panel_names_the_hospital_not_a_person(app: Flask) -> None:
    campaign = fundraising(patient_id_sequence=8)
    chinese = page(app, f"/campaigns/{campaign.id}", "zh-CN")
    assert "<dt>医院名称</dt>" in chinese  # 姓名 is a person's name


def test_the_reviewers_timeline_names_roles_not_codes(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert actor_text("system") == "Aidbridge（系统自动）"
        assert actor_text("family:16") == "求助家庭 #16"
        assert "charity_staff" not in actor_text("charity_staff:2")
