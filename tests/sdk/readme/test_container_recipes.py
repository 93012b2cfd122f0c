"""The container recipes of docs/containers.md, checked without Docker.

- GitHub Actions: the start step's script runs against a stand-in `docker` that plays a container
  through given health states, with `sleep` made instant. The step must pass once the container is
  healthy, fail (with the container's log) when it exits or turns unhealthy, fail after a minute of
  "starting", create the certificate folder, run the container as the runner's user with its ports
  on 127.0.0.1, and hand the bundle's path on.
- docker compose: the file parses; ports are published on 127.0.0.1 only; the test service waits
  for the health check, has a command, and trusts the bundle the image writes (Dockerfile).
- Testcontainers: the Python recipe compiles and dials the container host, not a fixed localhost.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "containers.md").read_text()


def blocks_under(heading: str, lang: str) -> list[str]:
    """The ```lang blocks of the docs section `heading` (a `## ` heading)."""
    section = DOC.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


# ----------------------------------------------------------------------------- GitHub Actions
FAKE_DOCKER = """#!/usr/bin/env bash
# Plays `docker` for the recipe: one health state per `inspect`, from $STATES (the last repeats).
echo "docker $*" >> "$CALLS"
case "$1" in
  inspect)
    n=$(grep -c '^docker inspect' "$CALLS")
    IFS=, read -ra states <<< "$STATES"
    i=$(( n <= ${#states[@]} ? n - 1 : ${#states[@]} - 1 ))
    echo "${states[$i]}" ;;
  logs) echo "emulator log line" ;;
esac
"""


@pytest.fixture
def actions_step(tmp_path):
    [workflow] = blocks_under("GitHub Actions", "yaml")
    steps = yaml.safe_load(workflow)
    start = next(s for s in steps if s["name"] == "Start the ACS emulator")
    test = next(s for s in steps if s["name"] == "Test")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"docker": FAKE_DOCKER, "sleep": "#!/bin/sh\nexit 0\n"}.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def run(states: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
        runner_temp = tmp_path / "runner-temp"
        runner_temp.mkdir(exist_ok=True)
        env = dict(
            os.environ,
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            RUNNER_TEMP=str(runner_temp),
            GITHUB_ENV=str(tmp_path / "github-env"),
            CALLS=str(tmp_path / "calls"),
            STATES=",".join(states),
        )
        for name in ("calls", "github-env"):
            (tmp_path / name).write_text("")
        # GitHub runs a `run:` script with `bash -e {0}`.
        script = tmp_path / "step.sh"
        script.write_text(start["run"])
        done = subprocess.run(["bash", "-e", str(script)], env=env, capture_output=True, text=True, timeout=30)
        return done, tmp_path

    run.test_step = test
    return run


def calls(tmp: Path) -> list[str]:
    return (tmp / "calls").read_text().splitlines()


def test_the_actions_step_passes_once_healthy_and_hands_on_the_bundle(actions_step):
    done, tmp = actions_step(["running/starting", "running/starting", "running/healthy"])
    assert done.returncode == 0, done.stdout + done.stderr
    made = calls(tmp)
    assert made[0] == "docker build -t acs-emulator ."
    run = next(c for c in made if c.startswith("docker run"))
    # The runner's user, who owns the folder the step created; ports on loopback only.
    assert f"--user {os.getuid()}:{os.getgid()}" in run, run
    assert (tmp / "runner-temp" / "acs").is_dir()
    assert f"-v {tmp}/runner-temp/acs:/certs" in run, run
    published = re.findall(r"-p (\S+)", run)
    assert published and all(p.startswith("127.0.0.1:") for p in published), run
    assert sum(c.startswith("docker inspect") for c in made) == 3
    bundle = f"{tmp}/runner-temp/acs/ca-bundle.pem"
    assert (tmp / "github-env").read_text() == f"ACS_CA_BUNDLE={bundle}\n"
    # The bundle is what the Dockerfile writes, and only the test step trusts it.
    assert "ACS_EMULATOR_TLS_CA_BUNDLE_OUT=/certs/ca-bundle.pem" in (REPO / "Dockerfile").read_text()
    env = actions_step.test_step["env"]
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"):
        assert env[name] == "${{ env.ACS_CA_BUNDLE }}", env


@pytest.mark.parametrize(
    "states",
    [
        ["running/starting", "exited/starting"],
        ["running/starting", "running/unhealthy"],
        ["running/starting"],  # never healthy: gives up after 60 checks
    ],
)
def test_the_actions_step_fails_with_the_log_when_the_emulator_is_not_healthy(actions_step, states):
    done, tmp = actions_step(states)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "::error::the ACS emulator is not healthy" in done.stdout
    assert "emulator log line" in done.stdout
    assert (tmp / "github-env").read_text() == ""
    inspections = sum(c.startswith("docker inspect") for c in calls(tmp))
    assert inspections == (60 if len(states) == 1 else 2)


# ----------------------------------------------------------------------------- compose
def test_the_compose_file_is_consistent_with_the_image():
    [compose_text] = blocks_under("docker compose", "yaml")
    compose = yaml.safe_load(compose_text)
    emulator, tests = compose["services"]["acs-emulator"], compose["services"]["app-tests"]
    assert all(p.startswith("127.0.0.1:") for p in emulator["ports"]), emulator["ports"]
    assert emulator["environment"]["ACS_EMULATOR_TLS_HOSTNAME"] == "acs-emulator"
    assert tests["depends_on"]["acs-emulator"]["condition"] == "service_healthy"
    assert tests.get("command"), "the test service must run something"
    assert "endpoint=https://acs-emulator:8443/" in tests["environment"]["ACS_CONNECTION_STRING"]
    assert "acs-certs:/certs:ro" in tests["volumes"] and "acs-certs:/certs" in emulator["volumes"]
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"):
        assert tests["environment"][name] == "/certs/ca-bundle.pem"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ACS_EMULATOR_TLS_CA_BUNDLE_OUT=/certs/ca-bundle.pem" in dockerfile
    assert "VOLUME [\"/certs\"]" in dockerfile and "HEALTHCHECK" in dockerfile


def test_every_docker_run_publishes_on_loopback_only():
    for command in re.findall(r"docker run[^\n]*(?:\\\n[^\n]*)*", DOC):
        published = re.findall(r"-p (\S+)", command)
        assert all(p.startswith("127.0.0.1:") for p in published), command


# ----------------------------------------------------------------------------- Testcontainers
def test_the_testcontainers_recipe_dials_the_container_host():
    [recipe] = blocks_under("Testcontainers", "python")
    compile(recipe, "testcontainers-recipe.py", "exec")
    assert "localhost" not in recipe.replace("# Where the published ports are: localhost", "")
    assert "get_container_host_ip()" in recipe and "ACS_EMULATOR_TLS_HOSTNAME" in recipe
    assert "/_emulator/tls-ca-bundle" in recipe
