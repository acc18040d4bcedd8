"""Install metadata: one TensorFlow distribution, pins inside the ranges, and
CI running README.md's test command. No network, no GPU: setup.py's lists are
read and evaluated for the platforms users install on."""

import importlib.util
import pathlib
import re

from packaging import markers
from packaging import requirements
from packaging import utils
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# Distributions that each install the `tensorflow` package folder; two of them
# in one environment overwrite each other's files.
TENSORFLOW_DISTRIBUTIONS = frozenset({
    "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel",
    "tensorflow-macos", "tensorflow-aarch64", "tensorflow-cpu-aws",
    "tensorflow-rocm", "intel-tensorflow", "tf-nightly", "tf-nightly-cpu",
    "tf-nightly-gpu", "tf-nightly-intel", "tf-nightly-macos"})

EXTRA_SETS = [(), ("gpu",), ("test",), ("gpu", "test")]


def _environment(machine: str) -> dict[str, str]:
  """PEP 508 marker values of CPython 3.11 on Linux `machine`."""
  environment = markers.default_environment()
  environment.update({
      "implementation_name": "cpython", "os_name": "posix",
      "platform_machine": machine, "platform_python_implementation": "CPython",
      "platform_system": "Linux", "python_full_version": "3.11.7",
      "python_version": "3.11", "sys_platform": "linux"})
  return environment


ENVIRONMENTS = {machine: _environment(machine)
                for machine in ("x86_64", "aarch64")}


@pytest.fixture(name="setup_module", scope="module")
def fixture_setup_module():
  """setup.py as a module, its setup() call not run (it is __main__-only)."""
  spec = importlib.util.spec_from_file_location("pneumonia_tfds_setup",
                                                REPO / "setup.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _requirements(setup_module, extras=()) -> list[requirements.Requirement]:
  lines = list(setup_module.INSTALL_REQUIRES)
  for extra in extras:
    lines += setup_module.EXTRAS_REQUIRE[extra]
  return [requirements.Requirement(line) for line in lines]


def _all_requirements(setup_module) -> list[requirements.Requirement]:
  return _requirements(setup_module, tuple(setup_module.EXTRAS_REQUIRE))


def _active(reqs, environment):
  return [r for r in reqs if r.marker is None or r.marker.evaluate(environment)]


def _name(requirement: requirements.Requirement) -> str:
  return utils.canonicalize_name(requirement.name)


def _constraints() -> dict[str, str]:
  """constraints.txt as {canonical name: pinned version}."""
  pins = {}
  for line in (REPO / "constraints.txt").read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
      continue
    requirement = requirements.Requirement(line)
    specifiers = list(requirement.specifier)
    assert (len(specifiers) == 1 and specifiers[0].operator == "=="
            and not requirement.marker and not requirement.extras), (
                f"constraints.txt: {line!r} is not a plain name==version pin")
    assert _name(requirement) not in pins, f"constraints.txt: {line!r} twice"
    pins[_name(requirement)] = specifiers[0].version
  return pins


@pytest.mark.parametrize("machine", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("extras", EXTRA_SETS,
                         ids=lambda extras: "+".join(extras) or "base")
def test_one_tensorflow_distribution(setup_module, machine, extras):
  active = _active(_requirements(setup_module, extras), ENVIRONMENTS[machine])
  names = {_name(r) for r in active if _name(r) in TENSORFLOW_DISTRIBUTIONS}
  assert names == {"tensorflow"}, (
      f"[{','.join(extras)}] on linux {machine} names {sorted(names)}")


@pytest.mark.parametrize("machine", sorted(ENVIRONMENTS))
def test_gpu_extra_adds_cuda_to_the_same_tensorflow(setup_module, machine):
  environment = ENVIRONMENTS[machine]
  base = [r for r in _active(_requirements(setup_module), environment)
          if _name(r) == "tensorflow"]
  gpu = [r for r in _active(
      [requirements.Requirement(line)
       for line in setup_module.EXTRAS_REQUIRE["gpu"]], environment)
         if _name(r) == "tensorflow"]
  assert len(base) == 1 and len(gpu) == 1
  assert base[0].extras == set() and gpu[0].extras == {"and-cuda"}
  # The same range: pip then picks one version for both lines.
  assert gpu[0].specifier == base[0].specifier


def test_every_requirement_has_a_bounded_range(setup_module):
  for requirement in _all_requirements(setup_module):
    operators = {s.operator for s in requirement.specifier}
    assert ">=" in operators and "<" in operators, (
        f"{requirement}: give a lower and an upper bound, not a pin")


def test_constraints_pin_every_direct_requirement(setup_module):
  direct = {_name(r) for r in _all_requirements(setup_module)}
  pinned = set(_constraints())
  assert direct - pinned == set(), "not pinned in constraints.txt"
  assert pinned - direct == set(), "pinned but not a requirement of setup.py"


def test_constraint_pins_satisfy_setup_ranges(setup_module):
  pins = _constraints()
  for requirement in _all_requirements(setup_module):
    pin = pins.get(_name(requirement))
    assert pin, f"constraints.txt does not pin {requirement.name}"
    assert requirement.specifier.contains(pin, prereleases=True), (
        f"constraints.txt pins {requirement.name}=={pin}, outside setup.py's "
        f"{requirement}")


def _readme_test_command() -> str:
  """The fenced block after README.md's 'Run the tests:' line (the same
  block /work/shared/tools/fresh-clone-check runs)."""
  lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
  start = next(i for i, line in enumerate(lines)
               if line.startswith("Run the tests"))
  fences = [i for i in range(start + 1, len(lines))
            if lines[i].startswith("```")][:2]
  assert len(fences) == 2, "README.md: no fenced block after 'Run the tests'"
  block = [line.strip() for line in lines[fences[0] + 1:fences[1]]
           if line.strip()]
  assert len(block) == 1, f"README.md's test command is not one line: {block}"
  return block[0]


def _ci_last_command() -> str:
  lines = [line.strip() for line in
           (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
  commands = [line for line in lines if line and not line.startswith("#")]
  return commands[-1]


# CI must run exactly what README.md tells a new user to run.
def test_ci_runs_the_readme_test_command():
  assert _ci_last_command() == _readme_test_command()


def test_the_test_command_installs_with_constraints():
  command = _ci_last_command()
  assert re.search(r'pip install -e "\.\[test\]" -c constraints\.txt',
                   command), command
  assert command.endswith("python3 -m pytest -q"), command
