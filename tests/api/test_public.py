"""The public face of the API: campaign list and detail, filters, pagination, reference data."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fundraise.extensions import db
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, DocumentFactory, UserFactory, _disease_code_for


def test_list_shows_public_campaigns_only(api):
    shown = [CampaignFactory(state=state) for state in ("verified", "fundraising", "closed", "suspended")]
    hidden = [
        CampaignFactory(state=state)
        for state in ("draft", "submitted", "verifying", "needs_review", "rejected", "cancelled")
    ]
    db.session.commit()

    body = api("GET", "/campaigns").get_json()

    assert body["total"] == len(shown)
    ids = {item["id"] for item in body["items"]}
    assert ids == {c.id for c in shown}
    assert not ids & {c.id for c in hidden}


def test_summary_shows_money_in_fen_and_yuan(api):
    CampaignFactory(state="fundraising", target_fen=15_000_000)
    db.session.commit()

    (item,) = api("GET", "/campaigns").get_json()["items"]

    assert item["target_fen"] == 15_000_000
    assert item["target_yuan"] == "¥150,000"
    assert item["hospital"]["code"] == "AH-PROV"
    assert item["disease"]["category"] == "leukemia"
    assert item["patient_region"]["code"] == "341221"
    assert "household_income_fen" not in item
    assert "private" not in item


def test_filters_region_category_state_and_text(api):
    linquan = CampaignFactory(state="fundraising", title="小明的化疗")
    beijing = CampaignFactory(
        state="verified",
        patient_region_code="110105",
        diagnosis_icd10="Q21.3",
        disease_range_id=_disease_code_for("Q21.3"),
        title="心脏手术",
        story="先天性心脏病，需要手术。",
    )
    db.session.commit()

    def ids(query: str) -> set[int]:
        response = api("GET", "/campaigns?" + query)
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert ids("region=34") == {linquan.id}
    assert ids("region=340000") == {linquan.id}  # a full province code means the whole province
    assert ids("region=341221") == {linquan.id}
    assert ids("region=11") == {beijing.id}
    assert ids("category=leukemia") == {linquan.id}
    assert ids("category=congenital_heart_disease") == {beijing.id}
    assert ids("state=verified") == {beijing.id}
    assert ids("q=化疗") == {linquan.id}
    assert ids("q=心脏病") == {beijing.id}  # the story is searched too
    assert ids("q=100%25") == set()  # LIKE wildcards are matched literally
    assert ids("region=34&state=verified") == set()


def test_filters_refuse_private_states_and_bad_values(api):
    assert_problem(api("GET", "/campaigns?state=draft"), 422, "state")
    assert_problem(api("GET", "/campaigns?region=anhui"), 422, "region")
    assert_problem(api("GET", "/campaigns?per_page=101"), 422, "per_page")
    assert_problem(api("GET", "/campaigns?page=0"), 422, "page")


def test_pagination_counts_and_links(api):
    for _ in range(5):
        CampaignFactory(state="fundraising")
    db.session.commit()

    first = api("GET", "/campaigns?per_page=2&region=34").get_json()
    assert first["total"] == 5
    assert first["page"] == 1
    assert len(first["items"]) == 2
    assert first["prev"] is None
    seen = [item["id"] for item in first["items"]]
    following = first["next"]
    while following:
        parts = urlsplit(following)
        assert "region=34" in parts.query  # filters are kept
        page = api("GET", parts.path.removeprefix("/api/v1") + "?" + parts.query).get_json()
        seen += [item["id"] for item in page["items"]]
        following = page["next"]
    assert page["page"] == 3
    assert len(page["items"]) == 1
    assert len(seen) == len(set(seen)) == 5


def test_detail_of_a_public_campaign_has_no_private_part(api):
    campaign = CampaignFactory(state="fundraising", with_evidence=True)
    DocumentFactory(campaign=campaign, kind="photo", content_type="image/png")
    db.session.commit()

    response = api("GET", f"/campaigns/{campaign.id}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == campaign.title
    assert body["cost_total_fen"] == 40_000_000
    assert body["cost_total_yuan"] == "¥400,000"
    assert body["cost_in_policy_yuan"] == "¥300,000"
    assert len(body["photos"]) == 1
    assert "private" not in body
    text = response.get_data(as_text=True)
    assert campaign.patient_id_masked not in text
    assert "household_income" not in text
    assert "诊断证明" not in text
    assert body["transitions"] == []


def test_private_part_for_the_applicant_side_staff_and_officers(api, token_for):
    campaign = CampaignFactory(state="fundraising", with_evidence=True)
    staff = UserFactory(charity_staff=True)
    officer = UserFactory(officer=True)  # jurisdiction 341200, the patient's prefecture
    outsider_officer = UserFactory(officer=True, jurisdiction_code="110000")
    stranger = UserFactory()
    db.session.commit()

    for user in (campaign.applicant, staff, officer):
        body = api("GET", f"/campaigns/{campaign.id}", token=token_for(user)).get_json()
        private = body["private"]
        assert private["patient_id_masked"] == campaign.patient_id_masked
        assert "*" in private["patient_id_masked"]
        assert private["household_income_fen"] == 4_800_000
        assert private["household_income_yuan"] == "¥48,000"
        assert sorted(d["kind"] for d in private["documents"]) == ["cost_estimate", "diagnosis", "identity"]
    for user in (outsider_officer, stranger):
        body = api("GET", f"/campaigns/{campaign.id}", token=token_for(user)).get_json()
        assert "private" not in body


def test_drafts_are_hidden_from_everyone_but_their_side(api, token_for):
    draft = CampaignFactory()
    stranger = UserFactory()
    db.session.commit()

    assert_problem(api("GET", f"/campaigns/{draft.id}"), 404)
    assert_problem(api("GET", f"/campaigns/{draft.id}", token=token_for(stranger)), 404)
    assert_problem(api("GET", "/campaigns/999999"), 404)
    own = api("GET", f"/campaigns/{draft.id}", token=token_for(draft.applicant))
    assert own.status_code == 200
    assert own.get_json()["state"] == "draft"
    assert "submit" in own.get_json()["transitions"]


def test_reference_regions(api):
    provinces = api("GET", "/reference/regions?level=province").get_json()["items"]
    assert {
        "code": "340000",
        "name_zh": "安徽省",
        "name_en": "Anhui",
        "level": "province",
        "parent_code": None,
    } in [{k: r[k] for k in ("code", "name_zh", "name_en", "level", "parent_code")} for r in provinces]
    assert all(r["level"] == "province" for r in provinces)
    counties = api("GET", "/reference/regions?parent=341200").get_json()["items"]
    assert "341221" in {r["code"] for r in counties}
    assert all(r["parent_code"] == "341200" for r in counties)
    assert_problem(api("GET", "/reference/regions?level=village"), 422, "level")


def test_reference_hospitals_and_diseases(api):
    hospitals = api("GET", "/reference/hospitals?region=34").get_json()["items"]
    codes = {h["code"] for h in hospitals}
    assert "AH-PROV" in codes
    assert "BJ-FUWAI" not in codes
    assert all("bank_account_number" not in h for h in hospitals)

    diseases = api("GET", "/reference/diseases?category=leukemia").get_json()["items"]
    assert {d["code_from"] for d in diseases} == {"C91.0", "C91.1", "C92"}
    assert all(isinstance(d["cost_min_fen"], int) and d["cost_min_yuan"].startswith("¥") for d in diseases)


def test_the_patient_name_is_masked_as_on_the_page_for_everyone_but_the_private_part(api, client, token_for):
    """The page shows 王** for 王浩宇; the API shows exactly the same to anyone, and the full name only in
    `private`, to the family's side, staff and officers of the region."""
    campaign = CampaignFactory(state="fundraising", patient_name="王浩宇")
    donor = UserFactory(donor=True)
    staff = UserFactory(charity_staff=True)
    officer = UserFactory(officer=True)
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.search(r"<dd( lang=\"zh-CN\")?>王\*\*</dd>", page)
    assert "王浩宇" not in page

    for token in (None, token_for(donor)):
        detail = api("GET", f"/campaigns/{campaign.id}", token=token)
        assert detail.get_json()["patient_name"] == "王**"
        assert "王浩宇" not in detail.get_data(as_text=True)
        assert "private" not in detail.get_json()
        listed = api("GET", "/campaigns", token=token)
        assert [item["patient_name"] for item in listed.get_json()["items"]] == ["王**"]
        assert "王浩宇" not in listed.get_data(as_text=True)

    for user in (campaign.applicant, staff, officer):
        body = api("GET", f"/campaigns/{campaign.id}", token=token_for(user)).get_json()
        assert body["patient_name"] == "王**"
        assert body["private"]["patient_name"] == "王浩宇"


def test_the_masked_name_is_the_pages_own_function(api):
    from fundraise.pii import mask_name

    names = ["王浩宇", "欧阳娜娜", "李", "Li Wei", ""]
    campaigns = [CampaignFactory(state="fundraising", patient_name=name) for name in names]
    db.session.commit()

    shown = {item["id"]: item["patient_name"] for item in api("GET", "/campaigns").get_json()["items"]}
    for campaign in campaigns:
        assert shown[campaign.id] == mask_name(campaign.patient_name)
        detail = api("GET", f"/campaigns/{campaign.id}").get_json()
        assert detail["patient_name"] == mask_name(campaign.patient_name)
