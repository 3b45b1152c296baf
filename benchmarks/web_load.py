"""The machinery of benchmarks/web.py: the app's environment, the demo data, gunicorn on loopback and the
measurement with wrk. The script (web.py) runs it and reports."""

from __future__ import annotations

import base64
import io
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from support import workers_cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

WORKERS = 2
WRK_THREADS, WRK_CONNECTIONS = 2, 16
WARMUP_SECONDS = 3
ROUNDS = 3  # interleaved measurement rounds per route


# --- the app's environment ----------------------------------------------------------------------------


def app_environment(database_url: str, upload_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_DATABASE_URL")}
    env.update(
        {
            "AIDBRIDGE_ENV": "development",
            "FLASK_APP": "wsgi:app",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "PII_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "UPLOAD_DIR": str(upload_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def flask(env: dict[str, str], *args: str) -> None:
    print(f"  flask {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "flask", *args], cwd=PROJECT_ROOT, env=env, check=True, timeout=300)


# --- demo data -----------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
)
GIVEN = [
    "小明",
    "子涵",
    "欣怡",
    "浩然",
    "梓萱",
    "宇轩",
    "雨桐",
    "俊杰",
    "诗涵",
    "一诺",
    "佳怡",
    "子轩",
    "思远",
    "嘉怡",
    "晨曦",
    "文博",
    "秀英",
    "桂兰",
    "建国",
    "志强",
    "丽华",
    "海燕",
    "德明",
    "玉梅",
]
RELATION_FOR_AGE = [(17, "parent"), (59, "spouse"), (200, "child")]
TREATMENTS = [
    "诱导化疗及巩固治疗，预计两年，期间需多次住院。",
    "手术治疗后辅以放疗和靶向药物，疗程约一年。",
    "体外循环下心脏矫治手术，术后重症监护两周。",
    "造血干细胞移植，移植前需完成四个疗程化疗。",
    "规律透析并等待肾移植配型，移植后长期服用抗排异药物。",
]
STORY = (
    "{name}今年{age}岁，家住{county}。{when}在{hospital}确诊为{disease}，医生建议尽快接受治疗。"
    "家里{size}口人，全年收入约{income}元，{house}。为了治病，家里已经花光了积蓄，还向亲友借了{debt}万元。"
    "医院估算总费用约{cost}元，医保报销后仍有约{gap}元的缺口。我们恳请好心人伸出援手，所有善款都将直接拨付到医院的账户。"
)
UPDATES = [
    "第一个疗程已经结束，孩子精神状态比之前好了很多，谢谢大家的关心。",
    "今天复查，各项指标稳定，医生说可以按计划进行下一阶段治疗。",
    "手术很顺利，目前在病房观察，感谢每一位帮助过我们的人。",
    "住院费用已经由基金会直接结算到医院，我们会继续更新治疗进展。",
]
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_photos(count: int) -> list[bytes]:
    """A few small, distinct JPEGs: a gradient with a few shapes (what a phone photo costs to serve)."""
    from PIL import Image, ImageDraw

    rng = random.Random(7)
    photos = []
    for _ in range(count):
        image = Image.new("RGB", (640, 480))
        top, bottom = [rng.randrange(256) for _ in range(3)], [rng.randrange(256) for _ in range(3)]
        for y in range(480):
            mix = y / 479
            image.paste(
                tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)), (0, y, 640, y + 1)
            )
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(560), rng.randrange(400)
            draw.ellipse(
                (x, y, x + rng.randrange(30, 80), y + rng.randrange(30, 80)),
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=82)
        photos.append(out.getvalue())
    return photos


def seed(env: dict[str, str], count: int, upload_dir: Path) -> int:
    """Insert `count` fundraising campaigns with photos, evidence, updates and audit history; returns the id of
    a campaign to measure (one with photos and updates, in the middle of the range)."""
    import hashlib

    from sqlalchemy import select

    from fundraise import audit, create_app, pii
    from fundraise.extensions import db
    from fundraise.models import (
        Campaign,
        CampaignState,
        CampaignUpdate,
        Charity,
        DiseaseRange,
        Document,
        DocumentKind,
        Hospital,
        Region,
        Role,
        User,
    )
    from fundraise.services.accounts import hash_password
    from verification.identity import make_resident_id

    app = create_app(
        {
            "ENV_NAME": "development",
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "PII_KEY": env["PII_KEY"],
            "UPLOAD_DIR": env["UPLOAD_DIR"],
            "JOBS_MODE": "inline",
        }
    )
    rng = random.Random(2026)
    photos = [(data, hashlib.sha256(data).hexdigest()) for data in make_photos(4)]
    sources = []
    for n, (data, _digest) in enumerate(photos):
        path = upload_dir / f"source-{n}.jpg"
        path.write_bytes(data)
        sources.append(path)
    pdf_source = upload_dir / "source.pdf"
    pdf_source.write_bytes(PDF_BYTES)
    pdf_digest = hashlib.sha256(PDF_BYTES).hexdigest()

    def stored_copy(source: Path, extension: str) -> str:
        name = secrets.token_hex(16) + extension
        os.link(source, upload_dir / name)  # one file on disk, a name of its own for each document
        return name

    with app.app_context():
        counties = db.session.scalars(select(Region).where(Region.level == "county")).all()
        hospitals = db.session.scalars(select(Hospital)).all()
        diseases = db.session.scalars(select(DiseaseRange)).all()
        password_hash = hash_password(secrets.token_urlsafe(16))
        charity = Charity(
            code="BENCH",
            name_zh="压测慈善基金会",
            name_en="Benchmark Charity Foundation",
            credit_code="531000000000BENCH1",
            region_code=hospitals[0].region_code,
        )
        db.session.add(charity)
        db.session.flush()
        reviewer = User(
            email="reviewer@bench.aidbridge.cn",
            name="审核员",
            password_hash=password_hash,
            role=Role.CHARITY_STAFF,
            charity_id=charity.id,
        )
        db.session.add(reviewer)
        db.session.commit()

        chosen = 0
        now = datetime.now(UTC)
        started = time.monotonic()
        for n in range(count):
            county, hospital, disease = rng.choice(counties), rng.choice(hospitals), rng.choice(diseases)
            age = rng.choice([rng.randrange(1, 15), rng.randrange(18, 70)])
            birth = date(now.year - age, rng.randrange(1, 13), rng.randrange(1, 29))
            sex = rng.choice("MF")
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            relationship = next(r for limit, r in RELATION_FOR_AGE if age <= limit)
            cost_yuan = rng.randrange(disease.cost_min_fen, disease.cost_max_fen + 1) // 100 // 1000 * 1000
            in_policy_yuan = int(cost_yuan * rng.uniform(0.4, 0.75)) // 100 * 100
            target_yuan = min(cost_yuan - in_policy_yuan, 500_000) // 100 * 100
            income_yuan = rng.randrange(20_000, 120_000, 1000)
            size = rng.randrange(2, 7)
            owns_house = rng.random() < 0.6
            id_number = make_resident_id(county.code, birth, sex, n % 100)
            submitted = now - timedelta(days=rng.randrange(10, 90), minutes=rng.randrange(1440))

            family = User(
                email=f"family{n}@bench.aidbridge.cn",
                name=name[0] + "家长" if relationship == "parent" else name,
                password_hash=password_hash,
                role=Role.FAMILY,
            )
            db.session.add(family)
            db.session.flush()
            campaign = Campaign(
                state=CampaignState.FUNDRAISING,
                applicant_id=family.id,
                title=f"请帮助{name}战胜{disease.name_zh}"[:80],
                story=STORY.format(
                    name=name,
                    age=age,
                    county=county.name_zh,
                    when=f"{submitted.year}年{submitted.month}月",
                    hospital=hospital.name_zh,
                    disease=disease.name_zh,
                    size=size,
                    income=f"{income_yuan:,}",
                    house="老家有一处自建房" if owns_house else "一家人租房居住",
                    debt=rng.randrange(2, 20),
                    cost=f"{cost_yuan:,}",
                    gap=f"{cost_yuan - in_policy_yuan:,}",
                ),
                patient_name=name,
                patient_id_ciphertext=pii.encrypt_id(id_number),
                patient_id_index=pii.blind_index(id_number),
                patient_id_masked=pii.mask_id(id_number),
                patient_birth_date=birth,
                patient_sex=sex,
                patient_region_code=county.code,
                relationship_to_patient=relationship,
                diagnosis_icd10=disease.code_from,
                diagnosis_text=disease.name_zh,
                disease_range_id=disease.id,
                hospital_id=hospital.id,
                admitted_on=(submitted - timedelta(days=rng.randrange(3, 30))).date(),
                treatment_plan=rng.choice(TREATMENTS),
                cost_total_fen=cost_yuan * 100,
                cost_in_policy_fen=in_policy_yuan * 100,
                target_fen=target_yuan * 100,
                household_income_fen=income_yuan * 100,
                household_size=size,
                owns_house=owns_house,
                house_note="老家自建房一处" if owns_house else "",
                owns_car=rng.random() < 0.2,
                savings_fen=rng.randrange(0, 30_000) * 100,
                decision_reason="材料齐全，诊断与费用清单经医院社工核实。",
                created_at=submitted - timedelta(days=2),
                submitted_at=submitted,
                state_changed_at=submitted + timedelta(days=rng.randrange(2, 8)),
            )
            db.session.add(campaign)
            db.session.flush()

            for p in range(rng.randrange(1, 4)):
                source = rng.randrange(len(photos))
                db.session.add(
                    Document(
                        campaign_id=campaign.id,
                        kind=DocumentKind.PHOTO,
                        stored_name=stored_copy(sources[source], ".jpg"),
                        original_name=f"IMG_{2000 + p}.jpg",
                        content_type="image/jpeg",
                        size_bytes=len(photos[source][0]),
                        sha256=photos[source][1],
                        uploaded_by_id=family.id,
                    )
                )
            for kind, original in (
                (DocumentKind.DIAGNOSIS, "诊断证明.pdf"),
                (DocumentKind.COST_ESTIMATE, "费用估算.pdf"),
                (DocumentKind.IDENTITY, "身份证.pdf"),
            ):
                db.session.add(
                    Document(
                        campaign_id=campaign.id,
                        kind=kind,
                        stored_name=stored_copy(pdf_source, ".pdf"),
                        original_name=original,
                        content_type="application/pdf",
                        size_bytes=len(PDF_BYTES),
                        sha256=pdf_digest,
                        uploaded_by_id=family.id,
                    )
                )
            updates = rng.randrange(0, 4)
            for u in range(updates):
                db.session.add(
                    CampaignUpdate(
                        campaign_id=campaign.id,
                        author_id=family.id,
                        body=rng.choice(UPDATES),
                        created_at=campaign.state_changed_at + timedelta(days=3 * (u + 1)),
                    )
                )

            # The history the state machine would have written, so the public timeline has its real length.
            steps = [
                ("campaign.create", family, None, "draft", ""),
                ("campaign.submit", family, "draft", "submitted", ""),
                ("campaign.begin_verification", None, "submitted", "verifying", ""),
                ("campaign.flag_for_review", None, "verifying", "needs_review", ""),
                ("campaign.verify", reviewer, "needs_review", "verified", campaign.decision_reason),
                ("campaign.open_fundraising", family, "verified", "fundraising", ""),
            ]
            for action, actor, before, after, reason in steps:
                audit.record(
                    action,
                    "campaign",
                    campaign.id,
                    actor=actor,
                    before={"state": before} if before else None,
                    after={"state": after, "reason": reason},
                )
            if not chosen and n >= count // 2 and updates:
                chosen = campaign.id
            if n % 100 == 99:
                db.session.commit()
                print(f"  {n + 1} campaigns ({time.monotonic() - started:.0f}s)", flush=True)
        db.session.commit()
        if not chosen:
            chosen = campaign.id
        db.session.remove()
        db.engine.dispose()
    return chosen


# --- the server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--error-logfile",
        str(log),
        "--graceful-timeout",
        "10",
        "wsgi:app",
    ]
    print(f"  {' '.join(command[2:])}", flush=True)
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log}")
        try:
            status, _body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except OSError:
            time.sleep(0.3)
            continue
        if status == 200:
            return server
        raise RuntimeError(f"gunicorn answers /healthz with HTTP {status}; the trivial route is missing")
    stop_gunicorn(server)
    raise RuntimeError("gunicorn did not answer within 60s")


def stop_gunicorn(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    label: str
    path: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str  # non-2xx/3xx responses and socket errors, as wrk reports them ("" when none)
    app_cpu_seconds: float = 0.0  # the gunicorn workers' user+system CPU over the measurement


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse_wrk(label: str, path: str, output: str) -> Measurement:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not read wrk's output for {path}:\n{output}")
    errors = []
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors.append(f"{non_2xx.group(1)} non-2xx/3xx")
    socket_errors = re.search(r"Socket errors:(.*)", output)
    if socket_errors:
        errors.append("socket errors:" + socket_errors.group(1).strip())
    return Measurement(
        label,
        path,
        float(rps.group(1)),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        int(total.group(1)),
        "; ".join(errors),
    )


# Every request with a query string of its own, so no two requests share a page-cache entry: what a page costs
# when it is rendered (a visitor's first look after a change, or a signed-in user's page).
UNIQUE_QUERY_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "?render=" .. tid .. "-" .. counter)
end
"""
RENDER_EVERY_TIME = "?render=<unique>"


def run_wrk(url: str, seconds: int, script: Path | None = None) -> str:
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        *(["-s", str(script)] if script else []),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return done.stdout


def measure(
    base: str, routes: list[tuple[str, str]], seconds: int, workdir: Path, master_pid: int
) -> list[Measurement]:
    """Every route warmed up, then measured in ROUNDS interleaved rounds (route after route, round after round),
    so a burst of other work on a shared machine falls on all routes alike rather than on one. A path ending in
    RENDER_EVERY_TIME is requested with a unique query string each time. Requests/s is the rounds' mean, p50 their
    median, p99 their worst; the app's CPU is the workers' CPU time over the rounds."""
    script = workdir / "unique-query.lua"
    script.write_text(UNIQUE_QUERY_SCRIPT)
    per_round = max(1, round(seconds / ROUNDS))
    targets = []
    for label, path in routes:
        url = base + path.removesuffix(RENDER_EVERY_TIME)
        unique = script if path.endswith(RENDER_EVERY_TIME) else None
        print(f"  wrk {path}: {WARMUP_SECONDS}s warm-up", flush=True)
        run_wrk(url, WARMUP_SECONDS, unique)
        targets.append((label, path, url, unique))
    rounds: dict[str, list[tuple[Measurement, float]]] = {path: [] for _label, path, _url, _unique in targets}
    for number in range(1, ROUNDS + 1):
        print(f"  round {number} of {ROUNDS}: {per_round}s per route", flush=True)
        for label, path, url, unique in targets:
            cpu_before = workers_cpu_seconds(master_pid)
            output = run_wrk(url, per_round, unique)
            rounds[path].append(
                (parse_wrk(label, path, output), workers_cpu_seconds(master_pid) - cpu_before)
            )
    results = []
    for label, path, _url, _unique in targets:
        runs = [m for m, _cpu in rounds[path]]
        results.append(
            Measurement(
                label,
                path,
                statistics.mean(m.requests_per_second for m in runs),
                statistics.median(m.p50_ms for m in runs),
                max(m.p99_ms for m in runs),
                sum(m.requests for m in runs),
                "; ".join(m.errors for m in runs if m.errors),
                sum(cpu for _m, cpu in rounds[path]),
            )
        )
    return results
