"""Keys as the vendor's clients take them (SPEC §4): the ingestion key for writes, typed keys checked
before anything is sent and masked as the app shows them; ids sent in lower case (SPEC §2)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from hhsession import Client
from hhsession.errors import InvalidInput
from hhsession.redact import mask_secret, redact
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
KEY_ID = "AbCdEfGhIjKlMnOpQrStUvWx"
SECRET = "s3cr3t-" * 9 + "z"  # 64 characters
INGEST = f"hh_ingst_{KEY_ID}_{SECRET}"


def test_writes_go_with_the_ingestion_key(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    env = {**key_env, "HH_INGESTION_API_KEY": INGEST}
    assert cli("start", "--name", "x", "-o", "none", env=env).exit_code == 0
    assert cli("event", "-s", SID, "--name", "x", "-o", "none", env=env).exit_code == 0
    fake.sessions[SID] = {"session_id": SID}
    assert cli("update", SID, "-m", "a=1", "-o", "none", env=env).exit_code == 0
    assert [r.headers["authorization"] for r in fake.requests] == [f"Bearer {INGEST}"] * 3


def test_the_flag_and_the_profile_give_it_too(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    assert cli("start", "--name", "x", "-o", "none", "--ingestion-api-key", INGEST, env=key_env).exit_code == 0
    stored = cli("config", "set", "ingestion_api_key", input=INGEST + "\n", env=key_env)
    assert stored.exit_code == 0 and SECRET not in stored.stderr and KEY_ID in stored.stderr
    listed = cli("config", "list", env=key_env)
    assert f"hh_ingst_{KEY_ID}_******" in listed.stdout and SECRET not in listed.stdout
    assert cli("start", "--name", "y", "-o", "none", env=key_env).exit_code == 0
    assert [r.headers["authorization"] for r in fake.requests] == [f"Bearer {INGEST}"] * 2


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("HH_INGESTION_API_KEY", INGEST[:-1], "begins with 'hh_ingst_' but is not a whole key"),
    ("HH_INGESTION_API_KEY", INGEST + "\u200b", "contains spaces, control or non-ASCII characters"),
    ("HH_INGESTION_API_KEY", f"hh_fgdp_{KEY_ID}_{SECRET}", "this is a different kind of HoneyHive key"),
    ("HH_INGESTION_API_KEY", "just-a-project-key-1234567890", "this is not a HoneyHive key"),
    ("HH_API_KEY", f"hh_fgdp_{KEY_ID}_{SECRET[:20]}", "begins with 'hh_fgdp_' but is not a whole key"),
])
def test_a_typed_key_of_the_wrong_shape_is_refused_unsent_and_unechoed(
        cli: Invoker, fake: FakeServer, key_env: dict[str, str], variable: str, value: str, says: str) -> None:
    result = cli("start", "--name", "x", env={**key_env, variable: value})
    assert result.exit_code == 2 and says in result.stderr and f"environment {variable}" in result.stderr
    assert result.stderr.count("\n") == 1 and fake.requests == []
    assert SECRET[:12] not in result.stderr and value[-12:] not in result.stderr


def test_a_plain_project_key_has_no_shape_rule(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    assert cli("start", "--name", "x", "-o", "none", env={**key_env, "HH_API_KEY": "hh_" + "q" * 30}).exit_code == 0


def test_masks_show_a_typed_keys_id_never_its_secret(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    assert mask_secret(INGEST) == f"hh_ingst_{KEY_ID}_******"
    echoed = f"key {INGEST}; cut {SECRET[5:30]}; spread {' '.join(SECRET[:20])}"
    shown = redact(echoed, [API_KEY, INGEST])
    assert SECRET[5:30] not in shown and SECRET[:12] not in shown.replace(" ", "") and KEY_ID in shown
    for encoded in (quote(INGEST, safe=""), quote(SECRET, safe="-"), SECRET.replace("3", "%33")):  # percent-encoded
        shown = redact(f"echo={encoded}", INGEST)
        assert "3cr" not in shown and SECRET[-4:] not in shown and "***" in shown, shown
    fake.script = [Reply(status=401, body={"message": f"bad key {INGEST} ({SECRET})"})]
    result = cli("start", "--name", "x", "-v", env={**key_env, "HH_INGESTION_API_KEY": INGEST})
    assert result.exit_code == 3 and "ingestion API key" in result.stderr and "HH_INGESTION_API_KEY" in result.stderr
    assert SECRET not in result.stderr and SECRET[:12] not in result.stderr
    assert f"Bearer hh_ingst_{KEY_ID}_******" in result.stderr


def test_the_python_client_takes_it_and_checks_it() -> None:
    with pytest.raises(InvalidInput, match=r"Client\(ingestion_api_key=...\)") as bad:
        Client(api_key=API_KEY, ingestion_api_key=INGEST[:40])
    assert INGEST[20:40] not in str(bad.value)
    client = Client(ingestion_api_key=INGEST)
    assert client.write_key == INGEST and INGEST not in repr(client)


# ------------------------------------------------------------------------------------------ ids


def test_ids_are_sent_in_lower_case_from_flags_files_and_records(cli: Invoker, fake: FakeServer,
                                                                 key_env: dict[str, str], tmp_path: Path) -> None:
    upper = SID.upper()
    assert cli("start", "--session-id", upper, "--child", upper, "-o", "none", env=key_env).exit_code == 0
    doc = tmp_path / "s.json"
    doc.write_text(json.dumps({"session_id": upper, "children_ids": [upper, "not-a-uuid"]}))
    assert cli("start", "-f", str(doc), "-o", "none", env=key_env).exit_code == 0
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"session_id": "00000000-0000-4000-8000-0000000000AB"}) + "\n")
    assert cli("replay", str(records), "--no-journal", "-o", "none", env=key_env).exit_code == 0
    assert cli("end", upper, "-o", "none", env=key_env).exit_code == 0
    bodies = [r.json() for r in fake.requests if r.method == "POST"]
    assert [b["session_id"] for b in bodies] == [SID, SID, "00000000-0000-4000-8000-0000000000ab"]
    assert bodies[0]["children_ids"] == [SID] and bodies[1]["children_ids"] == [SID, "not-a-uuid"]
    assert fake.requests[-1].path == f"/v1/events/{SID}"


@pytest.mark.parametrize("echo", [
    json.dumps(f"bad key {API_KEY}", ensure_ascii=False).replace(API_KEY[4:], "".join(f"\\u{ord(c):04x}" for c in API_KEY[4:])),
    json.dumps({"message": f"BAD KEY {API_KEY.upper()}"}),
    json.dumps({"error": {"detail": API_KEY.lower()}}),
    json.dumps({"message": f"İstanbul: bad key {API_KEY.upper()}"}, ensure_ascii=False),  # (İ lowers to 2 chars)
])
def test_a_key_echoed_escaped_or_in_another_case_is_masked(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                           echo: str) -> None:
    fake.script = [Reply(status=400, body=echo.encode())]
    result = cli("start", "--name", "x", env=key_env)
    assert result.exit_code == 4, result.stderr
    shown = result.stdout + result.stderr
    assert API_KEY[4:16].lower() not in shown.lower() and "\\u0" not in shown[shown.find("bad"):], shown
