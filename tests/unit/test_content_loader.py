"""The content loader: the shipped course loads, and every kind of broken content is reported at its line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.content.loader import ContentError, load_course
from bot.core.content.model import Rules
from bot.core.content.sections import split_sections

SAMPLE = Path(__file__).parent / "content_samples" / "minimal"
SHIPPED = Path(__file__).resolve().parents[2] / "content"

Edit = Callable[[Path], None]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A fresh copy of the valid minimal sample, named like the real folder."""
    root = tmp_path / "content"
    shutil.copytree(SAMPLE, root)
    return root


def replace(relative: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"sample drifted: {old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def write(relative: str, text: str) -> Edit:
    return lambda root: (root / relative).write_text(text, encoding="utf-8")


def rename(relative: str, new_name: str) -> Edit:
    return lambda root: (root / relative).rename((root / relative).with_name(new_name))


def copy_tree(relative: str, new_relative: str) -> Edit:
    return lambda root: shutil.copytree(root / relative, root / new_relative)


def errors_of(root: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_course(root)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


# ------------------------------------------------------------------ valid content


def test_minimal_sample_loads_into_the_model(content: Path) -> None:
    course = load_course(content)

    assert course.title == "Sample Course"
    assert course.default_module == 5
    assert course.rules == Rules(quiz_questions=2, test_questions=2, min_suggested_questions=2)
    module = course.modules[5]
    assert (module.title, module.folder) == ("Streaming Responses", "module-5")
    assert module.lesson_numbers == [1, 2]

    lesson = module.lessons[1]
    assert [s.heading for s in lesson.sections] == ["", "Server-Sent Events", "Why It Matters"]
    assert lesson.sections[0].markdown == "An intro paragraph."
    assert "## inside a fence: not a heading" in lesson.sections[1].markdown
    assert "### A sub-heading stays inside" in lesson.sections[1].markdown
    assert lesson.key_terms[0].term == "TTFT"
    assert lesson.key_terms[0].definition.startswith("Time to first token: ")
    assert module.lessons[2].key_terms == ()

    quiz = module.quizzes[1]
    question = quiz.question("sse-protocol")
    assert question.correct_option.label == "Server-Sent Events (SSE)"
    assert [o.letter for o in question.options] == ["A", "B"]
    assert question.explanation == "SSE is a one-way stream of events."
    assert quiz.question("ttft").explanation == ""

    lab = module.labs[1]
    assert (lab.lesson, lab.assistant_name) == (1, "Streaming Fundamentals Assistant")
    assert lab.suggested_questions == ("Why does streaming feel faster?", "What is an SSE event?")
    assert lab.system_prompt == "You are a patient tutor.\nKeep answers short."
    assert module.test is not None and module.test.pass_mark == 0.8
    assert [q.id for q in module.test.questions] == ["t1", "t2"]


def test_optional_fields_take_the_model_defaults(content: Path) -> None:
    replace("module-5/lab-1.yaml", "questions_to_complete: 3\n", "")(content)
    replace("module-5/test.yaml", "pass_mark: 0.8\n", "")(content)

    module = load_course(content).modules[5]

    assert module.labs[1].questions_to_complete == 3
    assert module.test is not None and module.test.pass_mark == 0.8


def test_every_folder_with_module_yaml_is_a_module(content: Path) -> None:
    copy_tree("module-5", "module-6")(content)
    replace("module-6/module.yaml", "number: 5", "number: 6")(content)
    (content / "assets").mkdir()  # a folder without module.yaml and lessons is not a module

    course = load_course(content)

    assert course.module_numbers == [5, 6]
    assert course.modules[6].folder == "module-6"


def test_shipped_content_is_valid() -> None:
    """The real check: the course in content/ loads, and every lesson has its quiz and lab."""
    course = load_course(SHIPPED)

    assert course.default_module in course.modules
    for module in course.modules.values():
        assert module.lessons, f"module {module.number} has no lessons"
        assert sorted(module.quizzes) == module.lesson_numbers
        assert sorted(lab.lesson for lab in module.labs.values()) == module.lesson_numbers
        assert all(lab.questions_to_complete == 3 for lab in module.labs.values())
        assert module.test is not None and module.test.pass_mark == 0.8


def test_shipped_feedback_agrees_with_the_correct_flag() -> None:
    """A misplaced ``correct: true`` shows up as feedback that says the opposite of the verdict."""
    course = load_course(SHIPPED)
    for module in course.modules.values():
        questions = [q for quiz in module.quizzes.values() for q in quiz.questions]
        questions += list(module.test.questions) if module.test else []
        for question in questions:
            for option in question.options:
                opening = "Correct." if option.correct else "Not quite."
                assert option.feedback.startswith(opening), f"{question.id} option {option.letter}: {option.feedback}"


# ------------------------------------------------------------------ broken content

QUIZ = "module-5/quiz-1.yaml"
LAB = "module-5/lab-1.yaml"
TEST = "module-5/test.yaml"
LESSON_1 = "module-5/lesson-1.md"
LESSON_2 = "module-5/lesson-2.md"
LONG_78 = "A" * 78
LONG_81 = "B" * 81

BROKEN: list[tuple[str, list[Edit], list[tuple[str, str]]]] = [
    (
        "yaml-syntax-unquoted-colon",
        [replace(QUIZ, "Not quite, the API", "Not quite: the API")],
        [(f"{QUIZ}:11", "YAML syntax error: mapping values are not allowed")],
    ),
    (
        "yaml-syntax-tab",
        [replace(LAB, "  name: Streaming", "\tname: Streaming")],
        [(f"{LAB}:5", "indent with spaces, not tabs")],
    ),
    (
        "front-matter-yaml-syntax",
        [replace(LESSON_1, '"Time to first token: how long until the first text arrives."', "Time: to first")],
        [(f"{LESSON_1}:8", "YAML syntax error")],
    ),
    (
        "missing-feedback",
        [replace(QUIZ, "        feedback: Yes.\n", "")],
        [(f"{QUIZ}:16", "question 'ttft', option A: 'feedback' is missing")],
    ),
    (
        "empty-feedback",
        [replace(QUIZ, "feedback: Yes.", "feedback:")],
        [(f"{QUIZ}:18", "question 'ttft', option A: 'feedback' is empty")],
    ),
    (
        "no-correct-option",
        [replace(QUIZ, "        correct: true\n", "")],
        [(f"{QUIZ}:6", "question 'sse-protocol': no option has 'correct: true'")],
    ),
    (
        "two-correct-options",
        [replace(QUIZ, "      - label: Total tokens\n", "      - label: Total tokens\n        correct: true\n")],
        [(f"{QUIZ}:20", "option B is marked 'correct: true' but so is option A")],
    ),
    (
        "correct-is-not-a-boolean",
        [replace(QUIZ, "correct: true", "correct: right")],
        [
            (f"{QUIZ}:6", "no option has 'correct: true'"),
            (f"{QUIZ}:8", "option A: 'correct' must be true or false, not text"),
        ],
    ),
    (
        "one-option",
        [replace(TEST, "      - label: client.messages.create()\n        feedback: That returns a raw", "#")],
        [(f"{TEST}:6", "question 't1': has 1 option; a question needs 2 to 5")],
    ),
    (
        "six-options",
        [
            replace(
                QUIZ,
                "        feedback: No, that is throughput.\n",
                "        feedback: No, that is throughput.\n"
                + "".join(f"      - label: Extra {n}\n        feedback: No.\n" for n in range(3)),
            )
        ],
        [(f"{QUIZ}:15", "question 'ttft': has 6 options; a question needs 2 to 5")],
    ),
    (
        "duplicate-question-id",
        [replace(QUIZ, "id: ttft", "id: sse-protocol")],
        [(f"{QUIZ}:13", "question id 'sse-protocol' is used twice (first on line 4)")],
    ),
    (
        "bad-question-id",
        [replace(QUIZ, "id: ttft", "id: TTFT_question")],
        [(f"{QUIZ}:13", "question 'TTFT_question': 'id' must be 1 to 32 characters of a-z, 0-9 and '-'")],
    ),
    (
        "question-id-too-long",
        [replace(QUIZ, "id: ttft", "id: " + "t" * 33)],
        [(f"{QUIZ}:13", "'id' must be 1 to 32 characters")],
    ),
    (
        "wrong-quiz-count",
        [replace("course.yaml", "quiz_questions: 2", "quiz_questions: 3")],
        [(f"{QUIZ}:3", "this quiz has 2 questions; it needs exactly 3 (rules.quiz_questions)")],
    ),
    (
        "wrong-test-count",
        [replace("course.yaml", "test_questions: 2", "test_questions: 3")],
        [(f"{TEST}:3", "the test has 2 questions; it needs exactly 3 (rules.test_questions)")],
    ),
    (
        "default-rules-apply-without-rules",
        [write("course.yaml", "title: Sample Course\ndefault_module: 5\n")],
        [
            (f"{QUIZ}:3", "this quiz has 2 questions; it needs exactly 3"),
            (f"{TEST}:3", "the test has 2 questions; it needs exactly 15"),
        ],
    ),
    (
        "too-few-suggested-questions",
        [replace(LAB, "  - What is an SSE event?\n", "")],
        [(f"{LAB}:8", "has 1 suggested question; a lab needs at least 2 (rules.min_suggested_questions)")],
    ),
    (
        "quiz-for-missing-lesson",
        [replace(QUIZ, "lesson: 1", "lesson: 3"), rename(QUIZ, "quiz-3.yaml")],
        [("module-5/quiz-3.yaml:1", "this quiz is for lesson 3, but this module has no lesson 3 (lessons: 1, 2)")],
    ),
    (
        "lab-points-at-missing-lesson",
        [replace(LAB, "lesson: 1", "lesson: 9")],
        [(f"{LAB}:2", "this lab points at lesson 9, but this module has no lesson 9 (lessons: 1, 2)")],
    ),
    (
        "label-over-slack-limit",
        [replace(QUIZ, "label: WebSockets", f"label: {LONG_78}")],
        [(f"{QUIZ}:10", "option B: the label is 78 characters; Slack buttons allow at most 75 (Discord allows 80)")],
    ),
    (
        "label-over-discord-limit",
        [replace(QUIZ, "label: WebSockets", f"label: {LONG_81}")],
        [(f"{QUIZ}:10", "the label is 81 characters; buttons allow at most 75 on Slack and 80 on Discord")],
    ),
    (
        "suggested-question-too-long",
        [replace(LAB, "  - What is an SSE event?", f"  - {LONG_78}")],
        [(f"{LAB}:10", "suggested question 2 is 78 characters; Slack buttons allow at most 75")],
    ),
    (
        "pass-mark-above-one",
        [replace(TEST, "pass_mark: 0.8", "pass_mark: 80")],
        [(f"{TEST}:2", "'pass_mark' must be more than 0 and at most 1 (0.8 means 80%), not 80")],
    ),
    (
        "pass-mark-zero",
        [replace(TEST, "pass_mark: 0.8", "pass_mark: 0")],
        [(f"{TEST}:2", "'pass_mark' must be more than 0 and at most 1")],
    ),
    (
        "default-module-not-found",
        [replace("course.yaml", "default_module: 5", "default_module: 6")],
        [("course.yaml:2", "default_module is 6, but no module has that number (modules found: 5)")],
    ),
    (
        "lesson-number-differs-from-file-name",
        [replace(LESSON_2, "number: 2", "number: 3")],
        [(f"{LESSON_2}:2", "'number: 3' does not match the file name lesson-2.md")],
    ),
    (
        "lab-number-differs-from-file-name",
        [replace(LAB, "number: 1", "number: 2")],
        [(f"{LAB}:1", "'number: 2' does not match the file name lab-1.yaml")],
    ),
    (
        "duplicate-lesson-number",
        [lambda root: shutil.copy(root / LESSON_1, root / "module-5/lesson-01.md")],
        [(f"{LESSON_1}:1", "same number as lesson-01.md")],
    ),
    (
        "duplicate-module-number",
        [copy_tree("module-5", "module-6")],
        [("module-6/module.yaml:1", "module 5 is already defined in content/module-5/module.yaml")],
    ),
    (
        "unknown-key-typo",
        [replace(QUIZ, "    prompt: What does TTFT", "    promt: What does TTFT")],
        [
            (f"{QUIZ}:13", "question 'ttft': 'prompt' is missing"),
            (f"{QUIZ}:14", "question 'ttft': unknown key 'promt' (did you mean 'prompt'?)"),
        ],
    ),
    (
        "unknown-front-matter-key",
        [replace(LESSON_2, "summary:", "sumary:")],
        [
            (f"{LESSON_2}:2", "'summary' is missing"),
            (f"{LESSON_2}:4", "unknown key 'sumary' (did you mean 'summary'?)"),
        ],
    ),
    (
        "unknown-key-without-a-close-match",
        [replace("module-5/module.yaml", "summary:", "colour: blue\nsummary:")],
        [("module-5/module.yaml:3", "unknown key 'colour' (expected: number, title, summary)")],
    ),
    (
        "duplicate-yaml-key",
        [replace("module-5/module.yaml", "summary:", "title: Again\nsummary:")],
        [("module-5/module.yaml:3", "'title' appears twice in this mapping (first on line 2)")],
    ),
    (
        "number-as-text",
        [replace(LESSON_2, "number: 2", "number: two")],
        [(f"{LESSON_2}:2", "'number' must be a whole number, not text")],
    ),
    (
        "label-read-as-boolean",
        [replace(QUIZ, "label: WebSockets", "label: yes")],
        [(f"{QUIZ}:10", "'label' must be text, not true/false (YAML reads yes/no/on/off/true/false")],
    ),
    (
        "questions-to-complete-zero",
        [replace(LAB, "questions_to_complete: 3", "questions_to_complete: 0")],
        [(f"{LAB}:11", "'questions_to_complete' must be 1 or more, not 0")],
    ),
    (
        "assistant-missing-greeting",
        [replace(LAB, "  greeting: Hello! Ask me about streaming.\n", "")],
        [(f"{LAB}:5", "assistant: 'greeting' is missing")],
    ),
    (
        "key-terms-section",
        [replace(LESSON_2, "## Text Stream", "## Key terms\n\n- text\n\n## Text Stream")],
        [(f"{LESSON_2}:7", "key terms belong in the front matter ('key_terms:')")],
    ),
    (
        "unclosed-code-fence",
        [replace(LESSON_2, "Iterate `stream.text_stream` for text deltas.", "```python\nprint(1)")],
        [(f"{LESSON_2}:9", "code fence '```' opened here is never closed")],
    ),
    (
        "empty-heading",
        [replace(LESSON_2, "## Text Stream", "## ")],
        [(f"{LESSON_2}:7", "a '## ' heading needs a title")],
    ),
    (
        "section-without-text",
        [replace(LESSON_1, "## Why It Matters\n\nPeople see text sooner.\n", "## Why It Matters\n")],
        [(f"{LESSON_1}:26", "section 'Why It Matters' has no text under its heading")],
    ),
    (
        "table-row-with-an-extra-cell",
        [replace(LESSON_1, "| 1 | 2 |", "| 1 | 2 | 3 |")],
        [(f"{LESSON_1}:24", "this table row has 3 cells but the header has 2")],
    ),
    (
        "table-rule-row-with-a-missing-column",
        [replace(LESSON_1, "|---|---|", "|---|")],
        [(f"{LESSON_1}:23", "the rule row has 1 cells but the header has 2")],
    ),
    (
        "table-without-a-rule-row",
        [replace(LESSON_1, "|---|---|\n", "")],
        [(f"{LESSON_1}:23", "a table needs a rule row such as |---|---| right under its header row")],
    ),
    (
        "python-block-with-a-syntax-error",
        [
            replace(
                LESSON_2,
                "Iterate `stream.text_stream` for text deltas.",
                "Iterate it:\n\n```python\nfor text in stream.text_stream\n    print(text)\n```",
            )
        ],
        [(f"{LESSON_2}:12", "this python block does not compile: expected ':'")],
    ),
    (
        "python-block-with-an-indentation-error",
        [replace(LESSON_2, "Iterate `stream.text_stream` for text deltas.", "```py\nif True:\nprint(1)\n```")],
        [(f"{LESSON_2}:11", "this python block does not compile: expected an indented block")],
    ),
    (
        "gap-in-lesson-numbers",
        [replace(LESSON_2, "number: 2", "number: 4"), rename(LESSON_2, "lesson-4.md")],
        [
            (
                "module-5/lesson-4.md:1",
                "lesson numbers must count up from 1 without gaps, but there is no lesson-2.md or lesson-3.md",
            )
        ],
    ),
    (
        "lessons-not-starting-at-1",
        [
            replace(LESSON_1, "number: 1", "number: 3"),
            rename(LESSON_1, "lesson-3.md"),
        ],
        [
            (f"{LAB}:2", "this lab points at lesson 1, but this module has no lesson 1 (lessons: 2, 3)"),
            (f"{LESSON_2}:1", "lesson numbers must count up from 1 without gaps, but there is no lesson-1.md"),
            (f"{QUIZ}:1", "this quiz is for lesson 1, but this module has no lesson 1"),
        ],
    ),
    (
        "no-front-matter",
        [replace(LESSON_2, "---\nnumber: 2", "number: 2")],
        [(f"{LESSON_2}:1", "a lesson must start with YAML front matter between two '---' lines")],
    ),
    (
        "key-term-missing-definition",
        [replace(LESSON_1, '    definition: "Time to first token: how long until the first text arrives."\n', "")],
        [(f"{LESSON_1}:7", "key term 1: 'definition' is missing")],
    ),
    (
        "questions-not-a-list",
        [write(QUIZ, "lesson: 1\ntitle: Quiz\nquestions: none\n")],
        [(f"{QUIZ}:3", "'questions' must be a list (lines starting with '- '), not text")],
    ),
    (
        "file-is-a-list",
        [write("module-5/module.yaml", "- number: 5\n")],
        [("module-5/module.yaml:1", "expected a mapping with keys number, title, summary, found a list")],
    ),
    (
        "empty-file",
        [write(TEST, "")],
        [(f"{TEST}:1", "no YAML here")],
    ),
    (
        "misspelt-file-name",
        [write("module-5/lesosn-3.md", "---\nnumber: 3\n---\n")],
        [("module-5/lesosn-3.md:1", "not a content file name; expected module.yaml, test.yaml, lesson-N.md")],
    ),
    (
        "yml-extension",
        [rename(TEST, "test.yml")],
        [("module-5/test.yml:1", "not a content file name")],
    ),
    (
        "lessons-without-module-yaml",
        [copy_tree("module-5", "module-6"), lambda root: (root / "module-6/module.yaml").unlink()],
        [("module-6", "has lessons or quizzes but no module.yaml, so is not a module")],
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=name) for name, e, x in BROKEN])
def test_broken_content_is_reported_at_its_line(
    content: Path, edits: list[Edit], expected: list[tuple[str, str]]
) -> None:
    for edit in edits:
        edit(content)

    errors = errors_of(content)

    assert len(errors) == len(expected), "\n".join(errors)
    for error, (location, message) in zip(errors, expected, strict=True):
        assert error.startswith(f"content/{location}: "), error
        assert message in error, error


def test_every_problem_is_reported_not_just_the_first(content: Path) -> None:
    replace(QUIZ, "id: ttft", "id: TTFT")(content)
    replace(LAB, "lesson: 1", "lesson: 9")(content)
    replace(TEST, "pass_mark: 0.8", "pass_mark: 2")(content)
    replace("course.yaml", "title: Sample Course", "titel: Sample Course")(content)

    errors = errors_of(content)

    assert [error.split(": ", 1)[0] for error in errors] == [
        "content/course.yaml:1",
        "content/course.yaml:1",
        f"content/{LAB}:2",
        f"content/{QUIZ}:13",
        f"content/{TEST}:2",
    ]


def test_code_and_tables_inside_other_fences_are_not_checked(content: Path) -> None:
    """A ```text block may show broken Python or a stray pipe; only ```python blocks are compiled."""
    replace(LESSON_2, "Iterate `stream.text_stream` for text deltas.", "```text\nfor x in y\n| a |\n```")(content)

    assert load_course(content).modules[5].lessons[2].sections


def test_a_correct_option_much_longer_than_every_distractor_is_a_warning(content: Path) -> None:
    long_label = "Time to first token, the delay before any text reaches the user"
    replace(QUIZ, "label: Time to first token", f"label: {long_label}")(content)

    course = load_course(content)

    assert course.warnings == (
        f"content/{QUIZ}:16: warning: question 'ttft': the correct option A ({len(long_label)} characters) is much "
        "longer than every other option (at most 17); a learner can guess it by its length",
    )


def test_a_correct_option_only_somewhat_longer_is_not_a_warning(content: Path) -> None:
    replace(QUIZ, "label: Time to first token", "label: Time to the first visible token")(content)  # 31 vs 17

    assert load_course(content).warnings == ()


def test_missing_content_folder_is_a_clear_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path / "nowhere")

    assert errors == [
        f"{tmp_path / 'nowhere'}: content folder does not exist (set COURSEBOT_CONTENT or pass --content)"
    ]


def test_missing_course_yaml_is_a_clear_error(content: Path) -> None:
    (content / "course.yaml").unlink()

    assert errors_of(content) == ["content/course.yaml: missing; every content folder needs a course.yaml"]


# ------------------------------------------------------------------ sections


def test_sections_split_only_outside_fences_of_either_kind() -> None:
    body = (
        "## One\n"
        "~~~markdown\n## tilde fence\n~~~\n"
        "````text\n```\n## still inside the four-backtick fence\n````\n"
        "## Two ##\n"
        "text\n"
        "## C#\n"
        "sharp\n"
    )

    sections, problems = split_sections(body, 7)

    assert problems == []
    assert [s.heading for s in sections] == ["One", "Two", "C#"]
    assert "## still inside the four-backtick fence" in sections[0].markdown
    assert sections[0].markdown.endswith("````")


def test_windows_line_endings_and_a_bom_load(content: Path) -> None:
    lesson = content / LESSON_2
    lesson.write_bytes(b"\xef\xbb\xbf" + lesson.read_text(encoding="utf-8").replace("\n", "\r\n").encode())

    assert [s.heading for s in load_course(content).modules[5].lessons[2].sections] == ["Text Stream"]
