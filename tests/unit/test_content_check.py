"""``coursebot check``: exit codes and what it prints, through the real Typer app."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

SAMPLE = Path(__file__).parent / "content_samples" / "minimal"
SHIPPED = Path(__file__).resolve().parents[2] / "content"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(SAMPLE, root)
    return root


def check(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["check", "--content", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_valid_content_prints_a_summary_and_exits_0(content: Path) -> None:
    code, out, err = check(content)

    assert code == 0, err
    assert err == ""
    assert out.splitlines() == [
        "OK: 1 module, 2 lessons, 2 quiz questions, 1 lab, 2 test questions",
        "  Module 5: Streaming Responses [module-5] (default): "
        "2 lessons, 2 quiz questions, 1 lab, 2 test questions, pass mark 80%",
    ]


def test_shipped_course_has_the_whole_of_module_5() -> None:
    code, out, err = check(SHIPPED)

    assert code == 0, err
    assert err == "", "the shipped course has warnings"
    assert out.splitlines()[0] == "OK: 1 module, 4 lessons, 12 quiz questions, 4 labs, 15 test questions"
    assert "pass mark 80%" in out


def test_summary_has_one_line_per_module(content: Path) -> None:
    shutil.copytree(content / "module-5", content / "module-7")
    (content / "module-7" / "module.yaml").write_text("number: 7\ntitle: Tools\nsummary: Tool use.\n")
    (content / "module-7" / "test.yaml").unlink()

    code, out, _ = check(content)

    assert code == 0
    assert out.splitlines()[0] == "OK: 2 modules, 4 lessons, 4 quiz questions, 2 labs, 2 test questions"
    assert out.splitlines()[2] == (
        "  Module 7: Tools [module-7]: 2 lessons, 2 quiz questions, 1 lab, 0 test questions, no test"
    )


def test_errors_go_to_stderr_with_a_count_and_exit_1(content: Path) -> None:
    quiz = content / "module-5" / "quiz-1.yaml"
    quiz.write_text(quiz.read_text().replace("id: ttft", "id: TTFT"))
    lab = content / "module-5" / "lab-1.yaml"
    lab.write_text(lab.read_text().replace("lesson: 1", "lesson: 4"))

    code, out, err = check(content)

    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("content/module-5/lab-1.yaml:2: this lab points at lesson 4")
    assert lines[1].startswith("content/module-5/quiz-1.yaml:13: question 'TTFT': 'id' must be")
    assert lines[2] == f"2 problems in {content}; fix them and run coursebot check again."
    assert len(lines) == 3


def test_warnings_go_to_stderr_and_still_exit_0(content: Path) -> None:
    quiz = content / "module-5" / "quiz-1.yaml"
    long_label = "Time to first token, the delay before any text reaches the user"
    quiz.write_text(quiz.read_text().replace("label: Time to first token", f"label: {long_label}"))

    code, out, err = check(content)

    assert code == 0
    assert out.startswith("OK: 1 module")
    assert err.splitlines() == [
        "content/module-5/quiz-1.yaml:16: warning: question 'ttft': the correct option A (63 characters) is much "
        "longer than every other option (at most 17); a learner can guess it by its length"
    ]


def test_missing_content_folder_exits_1(tmp_path: Path) -> None:
    code, out, err = check(tmp_path / "missing")

    assert code == 1
    assert out == ""
    assert f"{tmp_path / 'missing'}: content folder does not exist" in err
    assert "1 problem in" in err
