"""Pre-flight checks, run for real on this machine (CPU-only torch, source-built pufferlib-core)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from rich.console import Console

from daf_core.config import DAFConfig
from daf_core.environment_checks import (
    EnvironmentCheck,
    EnvironmentCheckResult,
    daf_check_cuda_availability,
    daf_check_dependencies,
    daf_check_disk_space,
    daf_check_environment,
    daf_check_mission_configs,
    daf_get_recommended_device,
    daf_plan_training_device,
    daf_select_training_device,
)
from daf_core.missions import load_mission, save_mission

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_ONLY = not torch.cuda.is_available()


def by_name(result: EnvironmentCheckResult) -> dict[str, EnvironmentCheck]:
    return {check.name: check for check in result.checks}


@pytest.fixture(scope="module")
def dependencies() -> EnvironmentCheckResult:
    return daf_check_dependencies()


# --- EnvironmentCheckResult -------------------------------------------------------------------


def test_empty_result_is_not_healthy_because_nothing_was_verified():
    result = EnvironmentCheckResult()
    assert not result.is_healthy()
    assert "NOT VERIFIED" in result.summary()


def test_warnings_keep_a_result_healthy_failures_and_errors_do_not():
    result = EnvironmentCheckResult()
    result.add_check("a", True, info="fine")
    result.add_check("b", True, warning="slow")
    assert result.is_healthy()

    failed = EnvironmentCheckResult().merge(result)
    failed.add_check("c", False, info="too small")
    assert not failed.is_healthy()

    errored = EnvironmentCheckResult().merge(result)
    errored.add_error("d", "boom")
    assert not errored.is_healthy()
    assert errored.errors == [EnvironmentCheck(name="d", passed=False, error="boom")]
    assert result.is_healthy()  # merge copied into the new result, it did not change the source


def test_summary_has_one_marked_line_per_check_and_a_verdict():
    result = EnvironmentCheckResult()
    result.add_check("disk", True, info="50 GB free")
    result.add_check("cuda", True, warning="CPU only", info="torch 2.13")
    result.add_error("mission:x", "unknown mission 'x'")
    lines = result.summary().splitlines()
    assert "  ✓ disk: 50 GB free" in lines
    assert "  ! cuda: torch 2.13" in lines
    assert "      warning: CPU only" in lines
    assert "  ✗ mission:x" in lines
    assert "      error: unknown mission 'x'" in lines
    assert lines[-1] == "Verdict: UNHEALTHY (1 of 3 checks failed)"


def test_to_dict_is_json_ready_metadata():
    result = EnvironmentCheckResult()
    result.add_check("disk", True, info="50 GB free")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["healthy"] is True and data["num_checks"] == 1
    assert data["checks"] == [
        {"name": "disk", "passed": True, "warning": None, "info": "50 GB free", "error": None}
    ]


# --- CUDA -------------------------------------------------------------------------------------


@pytest.mark.skipif(not CPU_ONLY, reason="asserts the CPU fallback")
def test_cuda_check_passes_with_a_cpu_warning_here():
    result = daf_check_cuda_availability()
    assert result.is_healthy()
    (check,) = result.checks
    assert check.mark == "!"
    assert "training runs on cpu" in check.warning
    assert f"torch {torch.__version__}" in check.info and "training device: cpu" in check.info


@pytest.mark.skipif(not CPU_ONLY, reason="asserts the CPU fallback")
def test_cuda_check_fails_when_cuda_is_required():
    result = daf_check_cuda_availability(require_cuda=True)
    assert not result.is_healthy()
    assert "CUDA required but unavailable" in result.checks[0].warning


def test_cuda_check_speaks_through_the_given_console():
    out = io.StringIO()
    daf_check_cuda_availability(console=Console(file=out))
    if CPU_ONLY:
        assert "falling back to CPU" in out.getvalue()  # cogames' own message


# --- disk -------------------------------------------------------------------------------------


def test_disk_check_measures_the_nearest_existing_parent(tmp_path):
    result = daf_check_disk_space(tmp_path / "not" / "yet" / "created", min_available_gb=0.001)
    assert result.is_healthy()
    assert f"at {tmp_path} (nearest existing parent" in result.checks[0].info


def test_disk_check_fails_below_the_threshold(tmp_path):
    result = daf_check_disk_space(tmp_path, min_available_gb=10**9)
    assert not result.is_healthy()
    assert "below min_available_gb=1e+09" in by_name(result)["disk_space"].warning


def test_disk_check_fails_when_the_checkpoint_dir_is_a_file(tmp_path):
    (tmp_path / "ckpt").write_text("")
    result = daf_check_disk_space(tmp_path / "ckpt", min_available_gb=0)
    assert not by_name(result)["checkpoint_dir"].passed


def test_disk_check_rejects_a_negative_threshold(tmp_path):
    with pytest.raises(ValueError, match=r"min_available_gb.*-1"):
        daf_check_disk_space(tmp_path, min_available_gb=-1)


# --- dependencies -----------------------------------------------------------------------------


def test_dependencies_are_healthy_here(dependencies):
    assert dependencies.is_healthy(), dependencies.summary()
    checks = by_name(dependencies)
    assert checks["package:cogames"].info == "cogames 0.27.3 (pinned ==0.27.3)"
    assert checks["package:mettagrid"].info == "mettagrid 0.26.21 (pinned ==0.26.21)"
    assert checks["package:pufferlib"].info.startswith("pufferlib-core ")
    assert "advantage kernel runs on CPU" in checks["pufferlib._C"].info
    assert {"optional:dagster", "optional:dagster_webserver", "optional:psycopg2"} <= set(checks)


# --- missions ---------------------------------------------------------------------------------


def test_builtin_missions_build():
    result = daf_check_mission_configs(["tiny_walk", "explore", "explore_large"])
    assert result.is_healthy(), result.summary()
    assert by_name(result)["mission:explore"].info.startswith("4 agents, 16x16, max_steps 200")


def test_a_saved_mission_file_builds(tmp_path):
    path = save_mission(load_mission("tiny_walk"), tmp_path / "m.yaml")
    result = daf_check_mission_configs([path])
    assert result.is_healthy(), result.summary()
    assert result.checks[0].info.startswith("2 agents, 8x8, max_steps 100")


def test_an_unknown_mission_is_a_failed_check_with_close_matches():
    result = daf_check_mission_configs(["tiny_walk", "explorer"])
    checks = by_name(result)
    assert checks["mission:tiny_walk"].passed
    assert not checks["mission:explorer"].passed
    assert "Did you mean: explore, explore_large?" in checks["mission:explorer"].error


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # 2 spawn points on the map for 5 agents: found when the map is built for the agents
        (lambda game: game.update(num_agents=5), "spawn points"),
        # the map places an object the game does not define: found when the C++ simulator is created
        (lambda game: game["map_builder"].update(objects={"altar": 2}), "Unknown object type: altar"),
    ],
    ids=["too-many-agents", "undefined-object"],
)
def test_a_mission_that_loads_but_cannot_build_fails(tmp_path, edit, expected):
    path = save_mission(load_mission("tiny_walk"), tmp_path / "broken.yaml")
    data = yaml.safe_load(path.read_text())
    edit(data["game"])
    path.write_text(yaml.safe_dump(data))
    load_mission(path)  # loading alone succeeds

    (check,) = daf_check_mission_configs([path]).checks
    assert not check.passed
    assert "does not build" in check.error and expected in check.error


def test_invalid_mission_parameters_and_files_fail(tmp_path):
    with pytest.raises(ValueError):
        load_mission("explore", walls=300)  # the parameter combination the next file stands for
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: {num_agents: many}\n")
    (check,) = daf_check_mission_configs([bad]).checks
    assert not check.passed and "num_agents" in check.error


def test_missing_mission_file_fails(tmp_path):
    (check,) = daf_check_mission_configs([tmp_path / "absent.yaml"]).checks
    assert not check.passed and "not found" in check.error


def test_empty_mission_list_is_rejected():
    with pytest.raises(ValueError, match="missions"):
        daf_check_mission_configs([])


# --- the combined check -----------------------------------------------------------------------


def test_environment_check_combines_the_checks_and_prints_a_readable_summary(tmp_path, caplog):
    out = io.StringIO()
    with caplog.at_level("INFO", logger="daf_core.environment_checks"):
        result = daf_check_environment(
            missions=["tiny_walk", "nope_walk"],
            check_dependencies=False,
            checkpoint_dir=tmp_path / "ckpt",
            min_available_gb=0.001,
            console=Console(file=out, width=80),
        )
    names = [c.name for c in result.checks]
    assert names == ["cuda", "disk_space", "mission:tiny_walk", "mission:nope_walk"]
    assert not result.is_healthy()

    printed = out.getvalue().splitlines()
    assert printed[printed.index("DAF environment checks:") :] == result.summary().splitlines()
    assert any(line.startswith("  ✓ disk_space: ") for line in printed)
    assert any(line.startswith("  ✓ mission:tiny_walk: 2 agents, 8x8, max_steps 100") for line in printed)
    assert "  ✗ mission:nope_walk" in printed
    assert printed[-1] == "Verdict: UNHEALTHY (1 of 4 checks failed)"
    assert sum("environment check" in r.getMessage() for r in caplog.records) == 4


def test_environment_check_with_everything_here_is_healthy(tmp_path, dependencies):
    result = daf_check_environment(missions=["explore"], checkpoint_dir=tmp_path, min_available_gb=0.001)
    assert result.is_healthy(), result.summary()
    assert {"cuda", "disk_space", "mission:explore", "pufferlib._C"} <= {c.name for c in result.checks}


def test_environment_check_with_nothing_selected_is_not_healthy():
    result = daf_check_environment(check_cuda=False, check_disk=False, check_dependencies=False)
    assert result.checks == [] and not result.is_healthy()


# --- device -----------------------------------------------------------------------------------

CUDA_DEVICES = torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.skipif(not CPU_ONLY, reason="asserts the CPU fallback")
def test_recommended_device_is_cpu_here():
    assert daf_get_recommended_device() == torch.device("cpu")


def test_recommended_device_honours_enable_gpu_false():
    assert daf_get_recommended_device(DAFConfig(enable_gpu=False)) == torch.device("cpu")


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps", torch.device("cuda", 1)])
def test_a_gpu_asked_for_by_name_is_refused_when_enable_gpu_is_false(requested):
    for choose in (daf_plan_training_device, daf_select_training_device):
        with pytest.raises(ValueError, match=r"device: .*asks for a GPU but DAFConfig.enable_gpu is False"):
            choose(requested, DAFConfig(enable_gpu=False))


@pytest.mark.parametrize(("requested", "message"), [("gpu", "is not a device"), ("meta", "cannot train")])
def test_a_device_that_cannot_train_is_refused(requested, message):
    with pytest.raises(ValueError, match=rf"device: '{requested}' {message}"):
        daf_select_training_device(requested)


def test_one_gpu_named_for_several_workers_is_refused():
    with pytest.raises(ValueError, match=r"device: 'cuda:1' puts all 2 workers on one GPU"):
        daf_plan_training_device("cuda:1", None, local_rank=0, world_size=2)


@pytest.mark.skipif(not CPU_ONLY, reason="asserts the refusal where torch sees no CUDA device")
@pytest.mark.parametrize("requested", ["cuda", "cuda:0"])
def test_cuda_is_refused_where_there_is_none(requested):
    with pytest.raises(ValueError, match=rf"device: '{requested}' but .*use device='cpu' or 'auto'"):
        daf_select_training_device(requested, DAFConfig())


def test_cpu_choices_leave_cuda_alone():
    """A CPU run must not take a GPU context (or a memory cap) on a machine that has GPUs."""
    out = run_python(
        """
        import torch
        from daf_core.config import DAFConfig
        from daf_core.environment_checks import daf_select_training_device
        chosen = [
            daf_select_training_device("cpu", DAFConfig(gpu_memory_fraction=0.1), 1, 2),
            daf_select_training_device("auto", DAFConfig(enable_gpu=False), 1, 2),
        ]
        print(chosen == [torch.device("cpu")] * 2, torch.cuda.is_initialized())
        """
    )
    assert out.split() == ["True", "False"]


@pytest.mark.skipif(CUDA_DEVICES < 1, reason="needs a CUDA device")
def test_the_chosen_gpu_becomes_current_and_its_memory_is_capped():
    out = run_python(
        """
        import torch
        from daf_core.config import DAFConfig
        from daf_core.environment_checks import daf_select_training_device
        device = daf_select_training_device("cuda", DAFConfig(gpu_memory_fraction=0.25))
        total = torch.cuda.get_device_properties(device).total_memory
        small = torch.empty(int(total * 0.1), dtype=torch.uint8, device=device)
        try:
            torch.empty(int(total * 0.5), dtype=torch.uint8, device=device)
            capped = False
        except torch.OutOfMemoryError:
            capped = True
        print(device, torch.cuda.current_device(), torch.cuda.get_per_process_memory_fraction(device), capped)
        """
    )
    assert out.split() == ["cuda:0", "0", "0.25", "True"]


@pytest.mark.skipif(CUDA_DEVICES < 2, reason="needs two CUDA devices")
def test_each_worker_takes_and_caps_the_gpu_of_its_local_rank():
    out = run_python(
        """
        import torch
        from daf_core.config import DAFConfig
        from daf_core.environment_checks import daf_select_training_device
        device = daf_select_training_device("auto", DAFConfig(gpu_memory_fraction=0.25), 1, 2)
        fractions = [torch.cuda.get_per_process_memory_fraction(i) for i in (0, 1)]
        print(device, torch.cuda.current_device(), *fractions)
        """
    )
    assert out.split() == ["cuda:1", "1", "1.0", "0.25"]


@pytest.mark.skipif(CUDA_DEVICES < 2, reason="needs two CUDA devices")
def test_a_gpu_named_by_index_becomes_current():
    out = run_python(
        """
        import torch
        from daf_core.environment_checks import daf_select_training_device
        print(daf_select_training_device("cuda:1"), torch.cuda.current_device())
        """
    )
    assert out.split() == ["cuda:1", "1"]


@pytest.mark.skipif(CUDA_DEVICES < 1, reason="needs a CUDA device (without one, CUDA is refused earlier)")
def test_a_worker_without_a_gpu_of_its_own_is_refused():
    with pytest.raises(ValueError, match=rf"LOCAL_RANK={CUDA_DEVICES} needs cuda:{CUDA_DEVICES}"):
        daf_plan_training_device("cuda", None, local_rank=CUDA_DEVICES, world_size=CUDA_DEVICES + 1)


# --- process hygiene (fresh interpreters) -----------------------------------------------------


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_the_module_does_not_import_torch():
    out = run_python(
        """
        import sys
        import daf_core.environment_checks
        print(sorted(m for m in ("torch", "cogames", "pufferlib") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_checks_leave_sigint_excepthook_and_root_logger_alone():
    out = run_python(
        """
        import logging, signal, sys
        import daf_core.environment_checks as ec
        result = ec.daf_check_dependencies()
        assert "pufferlib" in sys.modules and "torch" in sys.modules
        root = logging.getLogger()
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
              sys.excepthook is sys.__excepthook__, root.handlers == [], root.level == logging.WARNING,
              result.is_healthy())
        """
    )
    assert out.split() == ["True"] * 5
