"""The package installs: one `tfreport` command whose subcommands are the scripts, and the
scripts run from anywhere without a path hack."""
import os
import subprocess
import sys
import zipfile

import pytest

from tfreport import commands

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, cwd=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_every_script_is_a_command_and_back():
    scripts = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "scripts"))
                     if f.endswith(".py"))
    assert scripts == sorted(commands.COMMANDS.values())
    for name in scripts:
        text = open(os.path.join(ROOT, "scripts", name + ".py"), encoding="utf-8").read()
        assert f"from tfreport.commands.{name} import main" in text, name
        assert "sys.path" not in text, name
        assert os.path.exists(os.path.join(ROOT, "tfreport", "commands", name + ".py"))


def test_usage_lists_every_command():
    out = run(["-m", "tfreport"])
    assert out.returncode == 0, out.stderr
    for name in commands.COMMANDS:
        assert f"  {name} " in out.stdout
    assert "Train a report model." in out.stdout


def test_unknown_command_is_a_clear_error():
    out = run(["-m", "tfreport", "trian"])
    assert out.returncode != 0 and "unknown command 'trian'" in out.stderr


def test_subcommand_and_script_are_one_program(tmp_path):
    # from another directory: no sys.path hack, the installed package is what runs
    sub = run(["-m", "tfreport", "score", "--help"], cwd=tmp_path)
    script = run([os.path.join(ROOT, "scripts", "score.py"), "--help"], cwd=tmp_path)
    assert sub.returncode == 0 and script.returncode == 0, sub.stderr + script.stderr
    assert sub.stdout.startswith("usage: tfreport score")
    # the same parser: identical from the description on (the usage lines wrap by prog name)
    assert sub.stdout.split("\n\n", 1)[1] == script.stdout.split("\n\n", 1)[1]
    bad = run(["-m", "tfreport", "score", "--predictions", str(tmp_path / "none.json"),
               "--references", str(tmp_path / "none.json")], cwd=tmp_path)
    assert bad.returncode == 2 and "none.json" in bad.stderr


def test_wheel_holds_the_package_and_the_command(tmp_path):
    pytest.importorskip("setuptools")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path), ROOT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(f for f in os.listdir(tmp_path) if f.endswith(".whl"))
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert "tfreport/commands/train.py" in names and "tfreport/models/mrna.py" in names
    assert not any(n.startswith(("tests/", "scripts/", "docs/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tfreport = tfreport.commands:main" in zipfile.ZipFile(tmp_path / wheel).read(
        entry).decode()


def test_the_core_never_imports_the_experiment_tooling():
    """Layers: the core (data, layers, models, training, decoding, metrics, inference) stands
    alone; tfreport.experiments and tfreport.commands build on it, never the other way."""
    import ast
    import glob
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "tfreport", "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, ROOT)
        if rel.startswith((os.path.join("tfreport", "experiments"),
                           os.path.join("tfreport", "commands"))) or rel.endswith("__main__.py"):
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{rel}: {n}" for n in names
                          if n.startswith(("tfreport.experiments", "tfreport.commands"))]
    assert offenders == []
