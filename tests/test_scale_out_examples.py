"""The scale-out examples split a replay into shards that cover every record exactly once.

examples/scale-out/ holds a Kubernetes Indexed Job and a GitHub Actions matrix
that each run ``hhsession replay --shard K/N``. Here the real K values and N
are read out of both files (the Job's completions and the ``/N`` of its
command; the matrix's values and the ``/N`` of its run step), checked against
each other, and then the real CLI (``replay --dry-run``, no key, no network)
is run once per shard on a generated input whose size N does not divide: the
union of what the shards would send must be every record, once.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Invoker

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "scale-out"
K8S = EXAMPLES / "k8s-indexed-job.yaml"
ACTIONS = EXAMPLES / "github-actions-replay.yml"
CONTROLLER_INDEX_VAR = "JOB_COMPLETION_INDEX"  # the Job controller adds it to each container's env
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
RECORDS = 103  # not a multiple of any N the examples use


# ----------------------------------------------------------------------------- reading the examples


def k8s_job(docs: list[Any]) -> dict[str, Any]:
    jobs = [doc for doc in docs if isinstance(doc, dict) and doc.get("kind") == "Job"]
    assert len(jobs) == 1, f"{K8S.name}: expected one Job, found {len(jobs)}"
    return jobs[0]


def k8s_shards(docs: list[Any]) -> tuple[list[int], int, list[str]]:
    """The shard indexes the Job runs, N, and the container's argv with {K} for the shard."""
    job = k8s_job(docs)
    spec = job["spec"]
    assert spec.get("completionMode") == "Indexed", "the Job must be Indexed: each pod needs its own index"
    completions = spec["completions"]
    assert isinstance(completions, int) and completions >= 1
    assert spec.get("parallelism", 1) >= 1
    containers = spec["template"]["spec"]["containers"]
    assert len(containers) == 1
    container = containers[0]
    argv = [str(part) for part in container.get("command", []) + container.get("args", [])]
    assert "replay" in argv, argv
    shard = argv[argv.index("--shard") + 1]
    match = re.fullmatch(r"\$\((\w+)\)/(\d+)", shard)
    assert match, f"--shard {shard!r}: expected $(VAR)/N"
    var, n = match[1], int(match[2])
    # Kubernetes expands $(VAR) in command/args only for a variable in the container's
    # env; anything else would reach hhsession as the literal text. The Job controller
    # adds JOB_COMPLETION_INDEX to every container of an Indexed Job's pods (from the
    # completion-index annotation); any other name must be declared from that annotation.
    env = {item["name"]: item for item in container.get("env", [])}
    if var != CONTROLLER_INDEX_VAR:
        assert var in env, f"$({var}) is not declared in the container's env: Kubernetes would not expand it"
    declared = env.get(var, {"valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}})
    assert declared.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == COMPLETION_INDEX, (
        f"{var} must come from the pod's completion-index annotation"
    )
    key_ref = env.get("HH_PROJECT_API_KEY", {}).get("valueFrom", {}).get("secretKeyRef")
    assert key_ref, "HH_PROJECT_API_KEY must come from a Secret (secretKeyRef), never inline"
    assert n == completions, f"--shard .../{n} but completions: {completions}: some records would never be sent"
    for flag in ("--journal", "--failures"):
        assert f"$({var})" in argv[argv.index(flag) + 1], f"{flag} must be a per-shard path"
    return list(range(completions)), n, [part.replace(f"$({var})", "{K}") for part in argv]


def actions_shards(workflow: dict[str, Any]) -> tuple[list[int], int, list[str]]:
    """The matrix's shard values, N, and the replay step's command as argv with {K} for the shard."""
    jobs = workflow["jobs"]
    replay = jobs["replay"]
    strategy = replay["strategy"]
    assert strategy.get("fail-fast") is False, "fail-fast must be false: one failing shard must not cancel the rest"
    shards = strategy["matrix"]["shard"]
    assert isinstance(shards, list) and all(isinstance(k, int) for k in shards), shards
    steps = [step for step in replay["steps"] if "hhsession replay" in step.get("run", "")]
    assert len(steps) == 1, "expected one step running hhsession replay"
    step = steps[0]
    assert step.get("env", {}).get("HH_PROJECT_API_KEY") == "${{ secrets.HH_PROJECT_API_KEY }}", "the key must come from secrets.HH_PROJECT_API_KEY"
    run = step["run"].replace("\\\n", " ").replace("${{ matrix.shard }}", "{K}")
    command = next(line for line in run.splitlines() if "hhsession replay" in line and not line.lstrip().startswith("#"))
    match = re.search(r"--shard\s+(\S+)/(\d+)", command)
    assert match, "the replay step has no --shard K/N"
    assert match[1] == "{K}", f"--shard {match[1]}/...: K must be ${{{{ matrix.shard }}}}"
    n = int(match[2])
    for flag in ("--journal", "--failures"):
        after = re.search(rf"{flag}\s+(\S+)", command)
        assert after and "{K}" in after[1], f"{flag} must be a per-shard path"
    merge_n = jobs["merge"].get("env", {}).get("SHARDS")
    assert merge_n == n, f"the merge job expects {merge_n} shards, the replay step says /{n}"
    assert sorted(shards) == list(range(n)), f"matrix shard {shards} must be every K from 0 to {n - 1} once"
    argv = shlex.split(command, comments=True)
    if ">" in argv:
        argv = argv[:argv.index(">")]  # where the results go: not the CLI's business
    return list(shards), n, argv


def load_k8s() -> list[Any]:
    return list(yaml.safe_load_all(K8S.read_text()))


def load_actions() -> dict[str, Any]:
    workflow = yaml.safe_load(ACTIONS.read_text())
    assert isinstance(workflow, dict)
    return workflow


# ----------------------------------------------------------------------------- the real CLI


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "sessions.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"rec-{i}", "metadata": {"i": i}}) + "\n" for i in range(RECORDS)))
    return path


def plain(recording: Path, n: int) -> list[str]:
    return ["hhsession", "replay", str(recording), "--shard", f"{{K}}/{n}"]


def covered(cli: Invoker, argv: list[str], shards: list[int], recording: Path, state: Path) -> Counter[int]:
    """How often each record is sent over the shards: the example's own command run per shard with --dry-run.

    The recording and the state paths of the example are pointed at temporary
    files; --dry-run prints each payload it would send and needs no key or network.
    """
    assert argv[:2] == ["hhsession", "replay"], argv
    seen: Counter[int] = Counter()
    for k in shards:
        args = []
        for part in argv[2:]:
            part = part.replace("{K}", str(k))
            if part.startswith(("/input/", "$INPUT")):
                part = str(recording)
            elif part.startswith(("/state/", "$STATE/")):
                part = str(state / part.split("/")[-1])
            args.append(part)
        result = cli("replay", *args, "--dry-run", "-o", "jsonl")  # the bodies, whatever -o the example has
        assert result.exit_code == 0, (args, result.stderr)
        for line in result.stdout.splitlines():
            if line.strip():
                seen[json.loads(line)["metadata"]["i"]] += 1
    return seen


def assert_each_record_once(seen: Counter[int]) -> None:
    missing = sorted(set(range(RECORDS)) - set(seen))
    twice = sorted(i for i, count in seen.items() if count > 1)
    assert not missing and not twice, f"records never sent: {missing[:10]}; sent more than once: {twice[:10]}"


# ----------------------------------------------------------------------------- the tests


def test_kubernetes_job_shards_cover_every_record_once(cli: Invoker, recording: Path, tmp_path: Path) -> None:
    shards, n, argv = k8s_shards(load_k8s())
    assert RECORDS % n != 0
    assert_each_record_once(covered(cli, argv, shards, recording, tmp_path))


def test_actions_matrix_shards_cover_every_record_once(cli: Invoker, recording: Path, tmp_path: Path) -> None:
    shards, n, argv = actions_shards(load_actions())
    assert RECORDS % n != 0
    assert_each_record_once(covered(cli, argv, shards, recording, tmp_path))


def test_both_examples_split_the_same_way() -> None:
    k8s, k8s_n, _ = k8s_shards(load_k8s())
    actions, actions_n, _ = actions_shards(load_actions())
    assert (k8s, k8s_n) == (sorted(actions), actions_n)


# The checks above must be able to fail: the mistakes they exist for, made on copies.


def test_a_matrix_missing_a_shard_is_caught(cli: Invoker, recording: Path, tmp_path: Path) -> None:
    workflow = load_actions()
    workflow["jobs"]["replay"]["strategy"]["matrix"]["shard"] = [0, 1, 2]  # N = 4, one shard forgotten
    with pytest.raises(AssertionError, match="must be every K"):
        actions_shards(workflow)
    # and the CLI agrees: a quarter of the records would never be sent
    with pytest.raises(AssertionError, match="never sent"):
        assert_each_record_once(covered(cli, plain(recording, 4), [0, 1, 2], recording, tmp_path))


def test_a_run_step_whose_n_differs_from_the_matrix_is_caught() -> None:
    workflow = load_actions()
    step = next(s for s in workflow["jobs"]["replay"]["steps"] if "hhsession replay" in s.get("run", ""))
    assert "--shard ${{ matrix.shard }}/4" in step["run"]
    step["run"] = step["run"].replace("--shard ${{ matrix.shard }}/4", "--shard ${{ matrix.shard }}/5")
    with pytest.raises(AssertionError, match="expects 4 shards"):
        actions_shards(workflow)


def test_completions_differing_from_n_is_caught(cli: Invoker, recording: Path, tmp_path: Path) -> None:
    docs = load_k8s()
    k8s_job(docs)["spec"]["completions"] = 3  # but --shard $(JOB_COMPLETION_INDEX)/4
    with pytest.raises(AssertionError, match="completions: 3"):
        k8s_shards(docs)
    with pytest.raises(AssertionError, match="never sent"):
        assert_each_record_once(covered(cli, plain(recording, 4), [0, 1, 2], recording, tmp_path))


def test_the_example_takes_k_from_the_completion_index() -> None:
    _, _, argv = k8s_shards(load_k8s())
    assert argv[argv.index("--shard") + 1] == "{K}/4"
    assert "$(JOB_COMPLETION_INDEX)" in K8S.read_text()


def test_an_undeclared_shard_variable_is_caught() -> None:
    docs = load_k8s()
    container = k8s_job(docs)["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [arg.replace("$(JOB_COMPLETION_INDEX)", "$(SHARD)") for arg in container["args"]]
    with pytest.raises(AssertionError, match="not declared in the container's env"):
        k8s_shards(docs)


def test_a_shard_variable_from_elsewhere_is_caught() -> None:
    docs = load_k8s()
    container = k8s_job(docs)["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [arg.replace("$(JOB_COMPLETION_INDEX)", "$(SHARD)") for arg in container["args"]]
    container["env"].append({"name": "SHARD", "value": "0"})  # every pod would be shard 0
    with pytest.raises(AssertionError, match="completion-index annotation"):
        k8s_shards(docs)


def test_shards_with_different_n_overlap_and_miss(cli: Invoker, recording: Path, tmp_path: Path) -> None:
    """Why N must be the same for every shard of a run (docs/scale-out.md): 0/2 run beside 1/3 and 2/3."""
    seen = covered(cli, plain(recording, 2), [0], recording, tmp_path)
    seen += covered(cli, plain(recording, 3), [1, 2], recording, tmp_path)
    with pytest.raises(AssertionError, match="more than once"):
        assert_each_record_once(seen)
