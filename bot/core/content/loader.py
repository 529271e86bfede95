"""Load content/ (Markdown + YAML, see README.md "Authoring content") into the typed model.

Everything is validated up front and every problem is collected, so an author fixes the
whole list in one go: ``load_course`` either returns a complete, consistent ``Course`` or
raises ``ContentError`` whose lines read ``path:line: message``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.core.content.body_checks import body_problems
from bot.core.content.model import (
    DISCORD_LABEL_MAX,
    OPTION_LETTERS,
    SLACK_LABEL_MAX,
    Course,
    KeyTerm,
    Lab,
    Lesson,
    Module,
    ModuleTest,
    Option,
    Question,
    Quiz,
    Rules,
)
from bot.core.content.sections import split_sections
from bot.core.content.yaml_lines import YamlList, YamlMap, YamlSyntaxError, parse_yaml, split_front_matter

QUESTION_ID = re.compile(r"[a-z0-9-]{1,32}")  # it becomes part of button custom_ids
MIN_OPTIONS, MAX_OPTIONS = 2, len(OPTION_LETTERS)
# A correct option this much longer than every distractor gives the answer away (a warning, not an error).
GIVEAWAY_RATIO, GIVEAWAY_CHARS = 1.5, 15

_LESSON_FILE = re.compile(r"lesson-(\d+)\.md")
_QUIZ_FILE = re.compile(r"quiz-(\d+)\.yaml")
_LAB_FILE = re.compile(r"lab-(\d+)\.yaml")
_KNOWN_FILES = "module.yaml, test.yaml, lesson-N.md, quiz-N.yaml or lab-N.yaml"

_COURSE_KEYS = ("title", "default_module", "rules")
_RULES_KEYS = ("quiz_questions", "test_questions", "min_suggested_questions")
_MODULE_KEYS = ("number", "title", "summary")
_LESSON_KEYS = ("number", "title", "summary", "opening_question", "key_terms")
_KEY_TERM_KEYS = ("term", "definition")
_QUIZ_KEYS = ("lesson", "title", "questions")
_QUESTION_KEYS = ("id", "prompt", "options", "explanation")
_OPTION_KEYS = ("label", "correct", "feedback")
_LAB_KEYS = ("number", "lesson", "title", "assistant", "suggested_questions", "questions_to_complete", "system_prompt")
_ASSISTANT_KEYS = ("name", "specialty", "greeting")
_TEST_KEYS = ("title", "pass_mark", "questions")

T = TypeVar("T")


class ContentError(Exception):
    """The content is invalid; ``errors`` holds one ``path:line: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def load_course(path: Path) -> Course:
    """Load and validate the content folder at ``path``; raise ``ContentError`` listing every problem."""
    return _CourseReader(Path(path)).read()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, YamlList):
        return "a list"
    if isinstance(value, YamlMap):
        return "a mapping"
    return type(value).__name__


def _length_problem(what: str, text: str) -> str | None:
    """Why ``text`` cannot be a button label on some platform, or ``None`` when it fits everywhere."""
    if len(text) > DISCORD_LABEL_MAX:
        return (
            f"{what} is {len(text)} characters; buttons allow at most {SLACK_LABEL_MAX} on Slack "
            f"and {DISCORD_LABEL_MAX} on Discord"
        )
    if len(text) > SLACK_LABEL_MAX:
        return (
            f"{what} is {len(text)} characters; Slack buttons allow at most {SLACK_LABEL_MAX} "
            f"(Discord allows {DISCORD_LABEL_MAX})"
        )
    return None


class _Fields:
    """Typed reads from one YAML mapping. Each problem is reported at its line and clears ``ok``.

    Given ``None`` (a file that did not parse, already reported) it reads nothing, reports
    nothing and is never ``ok``, so one syntax error does not cascade into "missing" errors.
    """

    def __init__(
        self, reader: _CourseReader, source: str, data: YamlMap | None, allowed: tuple[str, ...], what: str = ""
    ) -> None:
        self.reader, self.source, self.what = reader, source, what
        self.silent = data is None
        self.data = _empty_map() if data is None else data
        self.ok = not self.silent
        for key in self.data:
            if key not in allowed:
                self.problem(self.data.key_lines[key], _unknown_key(key, allowed))

    def problem(self, line: int, message: str) -> None:
        self.ok = False
        if not self.silent:
            self.reader.add(self.source, line, f"{self.what}: {message}" if self.what else message)

    def line(self, key: str) -> int:
        """The line of ``key`` itself, or of the mapping when it has no such key."""
        return self.data.key_lines.get(key, self.data.line)

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            self.problem(self.line(key), f"'{key}' is empty" if key in self.data else f"'{key}' is missing")
        return value

    def _wrong(self, key: str, expected: str, value: object) -> None:
        hint = ""
        if isinstance(value, bool) and expected == "text":
            hint = " (YAML reads yes/no/on/off/true/false as true/false: put the text in quotes)"
        elif isinstance(value, int | float) and expected == "text":
            hint = " (put it in quotes)"
        self.problem(self.data.line_of(key), f"'{key}' must be {expected}, not {_kind(value)}{hint}")

    def text(self, key: str, *, required: bool = True) -> str:
        value = self._get(key, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self._wrong(key, "text", value)
            return ""
        if not value.strip() and required:
            self.problem(self.data.line_of(key), f"'{key}' is empty")
        return value.strip()

    def integer(self, key: str, *, default: int | None = None, minimum: int = 1) -> int | None:
        value = self._get(key, default is None)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(key, "a whole number", value)
            return None
        if value < minimum:
            self.problem(self.data.line_of(key), f"'{key}' must be {minimum} or more, not {value}")
            return None
        return value

    def fraction(self, key: str, *, default: float) -> float:
        """A number in (0, 1], such as a pass mark."""
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._wrong(key, "a number between 0 and 1", value)
            return default
        if not 0 < value <= 1:
            self.problem(
                self.data.line_of(key), f"'{key}' must be more than 0 and at most 1 (0.8 means 80%), not {value}"
            )
            return default
        return float(value)

    def flag(self, key: str) -> bool:
        value = self._get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self._wrong(key, "true or false", value)
            return False
        return value

    def mapping(self, key: str) -> YamlMap | None:
        value = self._get(key, True)
        if value is not None and not isinstance(value, YamlMap):
            self._wrong(key, "a mapping of keys", value)
            return None
        return value

    def items(self, key: str, *, required: bool = True) -> YamlList:
        value = self._get(key, required)
        if value is None:
            return _empty_list(self.data.line_of(key))
        if not isinstance(value, YamlList):
            self._wrong(key, "a list (lines starting with '- ')", value)
            return _empty_list(self.data.line_of(key))
        return value

    def mappings(self, key: str, item: str, *, required: bool = True) -> list[YamlMap]:
        """The items of list ``key``, each of which must be a mapping (a ``- key: value`` block)."""
        items = self.items(key, required=required)
        result = []
        for position, (value, line) in enumerate(zip(items, items.item_lines, strict=True), start=1):
            if isinstance(value, YamlMap):
                result.append(value)
            else:
                self.problem(line, f"{item} {position} in '{key}' must be a mapping of keys, not {_kind(value)}")
        return result


def _empty_list(line: int) -> YamlList:
    empty = YamlList()
    empty.line, empty.item_lines = line, []
    return empty


def _unknown_key(key: object, allowed: tuple[str, ...]) -> str:
    import difflib  # only needed when there is a typo

    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key '{key}' (expected: {', '.join(allowed)})"


class _CourseReader:
    """Reads one content folder, collecting every problem before deciding."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_name = root.resolve().name or str(root)
        self.problems: list[tuple[str, int, str]] = []
        self.warnings: list[tuple[str, int, str]] = []
        self.rules = Rules()

    def add(self, source: str, line: int, message: str) -> None:
        self.problems.append((source, line, message))

    def display(self, path: Path) -> str:
        return f"{self.root_name}/{path.relative_to(self.root).as_posix()}"

    # ---------------------------------------------------------------- files

    def _read_text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8-sig")  # tolerate a BOM from Windows editors
        except UnicodeDecodeError as error:
            line = path.read_bytes()[: error.start].count(b"\n") + 1
            self.add(self.display(path), line, "the file is not UTF-8 text")
        except OSError as error:
            self.add(self.display(path), 1, f"cannot read the file: {error.strerror}")
        return None

    def _parse(self, source: str, text: str, first_line: int, expected: str) -> YamlMap | None:
        """Parse ``text`` as a YAML mapping whose keys describe ``expected``."""
        try:
            data, duplicates = parse_yaml(text, first_line)
        except YamlSyntaxError as error:
            self.add(source, error.line, error.message)
            return None
        for line, message in duplicates:
            self.add(source, line, message)
        if isinstance(data, YamlMap):
            return data
        if data is None:
            self.add(source, first_line, f"no YAML here: expected {expected}")
        else:
            self.add(source, first_line, f"expected {expected}, found {_kind(data)}")
        return None

    def _yaml_file(self, path: Path, keys: tuple[str, ...]) -> YamlMap | None:
        text = self._read_text(path)
        if text is None:
            return None
        return self._parse(self.display(path), text, 1, f"a mapping with keys {', '.join(keys)}")

    def _file_fields(self, path: Path, keys: tuple[str, ...]) -> _Fields | None:
        """The top-level fields of a YAML content file; ``None`` when it cannot be read or parsed (reported)."""
        data = self._yaml_file(path, keys)
        return None if data is None else _Fields(self, self.display(path), data, keys)

    # ---------------------------------------------------------------- course

    def read(self) -> Course:
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise ContentError([f"{self.root}: content folder {what} (set COURSEBOT_CONTENT or pass --content)"])
        course_file = self.root / "course.yaml"
        if not course_file.is_file():
            raise ContentError([f"{self.display(course_file)}: missing; every content folder needs a course.yaml"])
        source = self.display(course_file)
        data = self._yaml_file(course_file, _COURSE_KEYS)
        fields = _Fields(self, source, data, _COURSE_KEYS)
        title = fields.text("title")
        default_module = fields.integer("default_module")
        if "rules" in fields.data:
            rules = fields.mapping("rules")
            if rules is not None:
                self.rules = self._rules(source, rules)
        modules, numbers = self._modules()
        if default_module is not None and numbers is not None and default_module not in numbers:
            found = ", ".join(map(str, sorted(numbers))) or "none"
            fields.problem(
                fields.data.line_of("default_module"),
                f"default_module is {default_module}, but no module has that number (modules found: {found})",
            )
        if self.problems:
            raise ContentError(_lines(self.problems))
        assert default_module is not None
        return Course(
            title=title,
            default_module=default_module,
            modules=modules,
            rules=self.rules,
            warnings=tuple(_lines(self.warnings)),
        )

    def _rules(self, source: str, data: YamlMap) -> Rules:
        fields = _Fields(self, source, data, _RULES_KEYS, "rules")
        defaults = Rules()
        quiz = fields.integer("quiz_questions", default=defaults.quiz_questions)
        test = fields.integer("test_questions", default=defaults.test_questions)
        suggested = fields.integer("min_suggested_questions", default=defaults.min_suggested_questions, minimum=0)
        return Rules(  # a bad value was reported; the default stands in so the rest is still checked
            quiz_questions=_or(quiz, defaults.quiz_questions),
            test_questions=_or(test, defaults.test_questions),
            min_suggested_questions=_or(suggested, defaults.min_suggested_questions),
        )

    def _modules(self) -> tuple[dict[int, Module], set[int] | None]:
        """The valid modules, and every module number (``None`` when a module.yaml hides its number)."""
        modules: dict[int, Module] = {}
        sources: dict[int, str] = {}
        all_numbered = True
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            module_file = folder / "module.yaml"
            if not module_file.is_file():
                if any(_LESSON_FILE.fullmatch(p.name) or _QUIZ_FILE.fullmatch(p.name) for p in folder.iterdir()):
                    self.add(self.display(folder), 0, "has lessons or quizzes but no module.yaml, so is not a module")
                continue
            number, line, module = self._module(folder)
            if number is None:
                all_numbered = False
                continue
            if number in sources:
                self.add(self.display(module_file), line, f"module {number} is already defined in {sources[number]}")
                continue
            sources[number] = self.display(module_file)
            if module is not None:
                modules[number] = module
        return modules, set(sources) if all_numbered else None

    # ---------------------------------------------------------------- module

    def _module(self, folder: Path) -> tuple[int | None, int, Module | None]:
        """The module number, the line it is on, and the module (``None`` when anything in it is invalid)."""
        module_file = folder / "module.yaml"
        fields = _Fields(self, self.display(module_file), self._yaml_file(module_file, _MODULE_KEYS), _MODULE_KEYS)
        number = fields.integer("number")
        title, summary = fields.text("title"), fields.text("summary")

        lesson_files, quiz_files, lab_files, test_file = self._classify(folder)
        self._check_lesson_gaps(lesson_files)
        lessons = self._build_all(lesson_files, self._lesson)
        known_lessons = set(lessons) | set(lesson_files)  # a broken lesson file still "exists"
        if not lesson_files:
            fields.problem(1, "this module has no lessons (add lesson-1.md)")
        quizzes = self._build_all(quiz_files, lambda n, p: self._quiz(n, p, known_lessons))
        labs = self._build_all(lab_files, lambda n, p: self._lab(n, p, known_lessons))
        test = self._test(test_file) if test_file else None

        line = fields.data.line_of("number")
        if not fields.ok or number is None:
            return number, line, None
        module = Module(
            number=number,
            title=title,
            summary=summary,
            lessons=lessons,
            quizzes=quizzes,
            labs=labs,
            test=test,
            folder=folder.name,
        )
        return number, line, module

    def _classify(self, folder: Path) -> tuple[dict[int, Path], dict[int, Path], dict[int, Path], Path | None]:
        """Sort a module folder's files by kind, keyed by the number in their names."""
        lessons: dict[int, Path] = {}
        quizzes: dict[int, Path] = {}
        labs: dict[int, Path] = {}
        test: Path | None = None
        kinds = ((_LESSON_FILE, lessons), (_QUIZ_FILE, quizzes), (_LAB_FILE, labs))
        for path in sorted(folder.iterdir()):
            name = path.name
            if not path.is_file() or name.startswith(".") or name == "module.yaml" or name.lower() == "readme.md":
                continue
            if name == "test.yaml":
                test = path
                continue
            for pattern, found in kinds:
                match = pattern.fullmatch(name)
                if match:
                    number = int(match.group(1))
                    if number in found:
                        self.add(self.display(path), 1, f"same number as {found[number].name}; rename one of them")
                    else:
                        found[number] = path
                    break
            else:
                if path.suffix in (".yaml", ".yml", ".md"):
                    self.add(self.display(path), 1, f"not a content file name; expected {_KNOWN_FILES}")
        return lessons, quizzes, labs, test

    def _check_lesson_gaps(self, files: dict[int, Path]) -> None:
        """Lessons count up from 1 without gaps: a missing number is reported at the file after it."""
        previous = 0
        for number in sorted(files):
            if number > previous + 1:
                missing = " or ".join(f"lesson-{n}.md" for n in range(previous + 1, number))
                self.add(
                    self.display(files[number]),
                    1,
                    f"lesson numbers must count up from 1 without gaps, but there is no {missing}",
                )
            previous = number

    @staticmethod
    def _build_all(files: dict[int, Path], build: Callable[[int, Path], T | None]) -> dict[int, T]:
        """Build every file of one kind, in number order; broken files are left out (and reported)."""
        built: dict[int, T] = {}
        for number in sorted(files):
            value = build(number, files[number])
            if value is not None:
                built[number] = value
        return built

    @staticmethod
    def _check_file_number(fields: _Fields, key: str, value: int | None, file_number: int, path: Path) -> None:
        if value is not None and value != file_number:
            fields.problem(
                fields.data.line_of(key),
                f"'{key}: {value}' does not match the file name {path.name}; make them the same",
            )

    @staticmethod
    def _check_lesson_exists(fields: _Fields, lesson: int | None, known: set[int], what: str) -> None:
        if lesson is not None and lesson not in known:
            found = ", ".join(map(str, sorted(known))) or "none"
            fields.problem(
                fields.data.line_of("lesson"),
                f"{what} lesson {lesson}, but this module has no lesson {lesson} (lessons: {found})",
            )

    # ---------------------------------------------------------------- lessons

    def _lesson(self, file_number: int, path: Path) -> Lesson | None:
        source = self.display(path)
        text = self._read_text(path)
        if text is None:
            return None
        split = split_front_matter(text)
        if split is None:
            self.add(source, 1, "a lesson must start with YAML front matter between two '---' lines")
            return None
        front, body, body_line = split
        data = self._parse(source, front, 2, "front matter with number, title, summary, opening_question")
        if data is None:
            return None
        fields = _Fields(self, source, data, _LESSON_KEYS)
        number = fields.integer("number")
        self._check_file_number(fields, "number", number, file_number, path)
        title, summary = fields.text("title"), fields.text("summary")
        opening_question = fields.text("opening_question")
        terms = fields.mappings("key_terms", "key term", required=False)
        key_terms = [self._key_term(source, item, position) for position, item in enumerate(terms, start=1)]
        sections, problems = split_sections(body, body_line)
        problems += body_problems(body, body_line)
        for line, message in problems:
            self.add(source, line, message)
        if not fields.ok or problems or number is None or None in key_terms:
            return None
        return Lesson(
            number=number,
            title=title,
            summary=summary,
            opening_question=opening_question,
            sections=tuple(sections),
            key_terms=tuple(key_terms),  # type: ignore[arg-type]  # None ruled out above
        )

    def _key_term(self, source: str, data: YamlMap, position: int) -> KeyTerm | None:
        fields = _Fields(self, source, data, _KEY_TERM_KEYS, f"key term {position}")
        term, definition = fields.text("term"), fields.text("definition")
        return KeyTerm(term=term, definition=definition) if fields.ok else None

    # ---------------------------------------------------------------- questions

    def _questions(self, fields: _Fields, expected: int, rule: str, what: str) -> tuple[Question, ...] | None:
        """The ``questions`` of a quiz or test: exactly ``expected`` of them, with unique ids."""
        raw = fields.data.get("questions")
        if isinstance(raw, YamlList) and len(raw) != expected:
            fields.problem(
                fields.line("questions"),
                f"{what} has {len(raw)} question{'s' if len(raw) != 1 else ''}; it needs exactly {expected} ({rule})",
            )
        seen: dict[str, int] = {}
        questions = []
        for position, data in enumerate(fields.mappings("questions", "question"), start=1):
            qid = data.get("id")
            if isinstance(qid, str) and qid in seen:
                message = f"question id '{qid}' is used twice (first on line {seen[qid]}); ids must be unique"
                fields.problem(data.line_of("id"), message)
            elif isinstance(qid, str):
                seen[qid] = data.line_of("id")
            questions.append(self._question(fields.source, data, position))
        if None in questions or not fields.ok:
            return None
        return tuple(questions)  # type: ignore[arg-type]  # None ruled out above

    def _question(self, source: str, data: YamlMap, position: int) -> Question | None:
        raw_id = data.get("id")
        what = f"question '{raw_id}'" if isinstance(raw_id, str) and raw_id.strip() else f"question {position}"
        fields = _Fields(self, source, data, _QUESTION_KEYS, what)
        qid = fields.text("id")
        if qid and not QUESTION_ID.fullmatch(qid):
            fields.problem(
                data.line_of("id"),
                "'id' must be 1 to 32 characters of a-z, 0-9 and '-' (it becomes part of button ids)",
            )
        prompt = fields.text("prompt")
        explanation = fields.text("explanation", required=False)
        items = fields.mappings("options", "option")
        options = [self._option(source, item, index, what) for index, item in enumerate(items)]
        self._check_options(fields, items)
        if not fields.ok or None in options:
            return None
        self._check_giveaway(source, what, items, options)  # type: ignore[arg-type]  # None ruled out above
        return Question(
            id=qid, prompt=prompt, options=tuple(options), explanation=explanation  # type: ignore[arg-type]
        )

    @staticmethod
    def _check_options(fields: _Fields, items: list[YamlMap]) -> None:
        """2 to 5 options, exactly one of them ``correct: true``."""
        raw = fields.data.get("options")
        if not isinstance(raw, YamlList):
            return
        if not MIN_OPTIONS <= len(raw) <= MAX_OPTIONS:
            fields.problem(
                fields.line("options"),
                f"has {len(raw)} option{'s' if len(raw) != 1 else ''}; a question needs {MIN_OPTIONS} to {MAX_OPTIONS}",
            )
        correct = [(index, item) for index, item in enumerate(items) if item.get("correct") is True]
        if not correct and items:
            fields.problem(fields.line("options"), "no option has 'correct: true'; mark exactly one")
        for index, item in correct[1:]:
            first = _letter(correct[0][0])
            fields.problem(
                item.key_lines["correct"],
                f"option {_letter(index)} is marked 'correct: true' but so is option {first}; "
                "exactly one may be correct",
            )

    def _option(self, source: str, data: YamlMap, index: int, question: str) -> Option | None:
        fields = _Fields(self, source, data, _OPTION_KEYS, f"{question}, option {_letter(index)}")
        label = fields.text("label")
        problem = _length_problem("the label", label)
        if problem:
            fields.problem(data.line_of("label"), problem)
        correct = fields.flag("correct")
        feedback = fields.text("feedback")
        if not fields.ok:
            return None
        return Option(index=index, label=label, correct=correct, feedback=feedback)

    def _check_giveaway(self, source: str, what: str, items: list[YamlMap], options: list[Option]) -> None:
        """Warn when the correct option is much longer than every distractor: its length gives it away."""
        correct = next(option for option in options if option.correct)
        longest = max((len(option.label) for option in options if not option.correct), default=0)
        if len(correct.label) >= max(longest * GIVEAWAY_RATIO, longest + GIVEAWAY_CHARS):
            self.warnings.append(
                (
                    source,
                    items[correct.index].line_of("label"),
                    f"warning: {what}: the correct option {correct.letter} ({len(correct.label)} characters) is "
                    f"much longer than every other option (at most {longest}); a learner can guess it by its length",
                )
            )

    # ---------------------------------------------------------------- quizzes, labs, test

    def _quiz(self, file_number: int, path: Path, lessons: set[int]) -> Quiz | None:
        fields = self._file_fields(path, _QUIZ_KEYS)
        if fields is None:
            return None
        lesson = fields.integer("lesson")
        self._check_file_number(fields, "lesson", lesson, file_number, path)
        self._check_lesson_exists(fields, lesson, lessons, "this quiz is for")
        title = fields.text("title")
        questions = self._questions(fields, self.rules.quiz_questions, "rules.quiz_questions", "this quiz")
        if not fields.ok or lesson is None or questions is None:
            return None
        return Quiz(lesson=lesson, title=title, questions=questions)

    def _lab(self, file_number: int, path: Path, lessons: set[int]) -> Lab | None:
        fields = self._file_fields(path, _LAB_KEYS)
        if fields is None:
            return None
        source = fields.source
        number = fields.integer("number")
        self._check_file_number(fields, "number", number, file_number, path)
        lesson = fields.integer("lesson")
        self._check_lesson_exists(fields, lesson, lessons, "this lab points at")
        title = fields.text("title")
        name = specialty = greeting = ""
        assistant = fields.mapping("assistant")
        if assistant is not None:
            person = _Fields(self, source, assistant, _ASSISTANT_KEYS, "assistant")
            name, specialty, greeting = person.text("name"), person.text("specialty"), person.text("greeting")
            fields.ok = fields.ok and person.ok
        suggested = self._suggested_questions(fields)
        to_complete = fields.integer("questions_to_complete", default=_default(Lab, "questions_to_complete"))
        system_prompt = fields.text("system_prompt")
        if not fields.ok or number is None or lesson is None or to_complete is None:
            return None
        return Lab(
            number=number,
            lesson=lesson,
            title=title,
            assistant_name=name,
            specialty=specialty,
            greeting=greeting,
            suggested_questions=suggested,
            system_prompt=system_prompt,
            questions_to_complete=to_complete,
        )

    def _suggested_questions(self, fields: _Fields) -> tuple[str, ...]:
        items = fields.items("suggested_questions")
        minimum = self.rules.min_suggested_questions
        if isinstance(fields.data.get("suggested_questions"), YamlList) and len(items) < minimum:
            fields.problem(
                fields.line("suggested_questions"),
                f"has {len(items)} suggested question{'s' if len(items) != 1 else ''}; "
                f"a lab needs at least {minimum} (rules.min_suggested_questions)",
            )
        questions = []
        for position, (value, line) in enumerate(zip(items, items.item_lines, strict=True), start=1):
            if not isinstance(value, str) or not value.strip():
                fields.problem(line, f"suggested question {position} must be text, not {_kind(value)}")
                continue
            problem = _length_problem(f"suggested question {position}", value.strip())
            if problem:
                fields.problem(line, problem)
            questions.append(value.strip())
        return tuple(questions)

    def _test(self, path: Path) -> ModuleTest | None:
        fields = self._file_fields(path, _TEST_KEYS)
        if fields is None:
            return None
        title = fields.text("title")
        pass_mark = fields.fraction("pass_mark", default=_default(ModuleTest, "pass_mark"))
        questions = self._questions(fields, self.rules.test_questions, "rules.test_questions", "the test")
        if not fields.ok or questions is None:
            return None
        return ModuleTest(title=title, questions=questions, pass_mark=pass_mark)


def _lines(found: list[tuple[str, int, str]]) -> list[str]:
    """``path:line: message`` lines, in file and line order."""
    ordered = sorted(found, key=lambda item: (item[0], item[1]))
    return [f"{path}:{line}: {message}" if line else f"{path}: {message}" for path, line, message in ordered]


def _letter(index: int) -> str:
    return OPTION_LETTERS[index] if index < len(OPTION_LETTERS) else str(index + 1)


def _default(model: type, name: str) -> Any:
    """The model's own default for a field, so the loader never repeats it."""
    return next(field.default for field in dataclasses.fields(model) if field.name == name)


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _empty_map() -> YamlMap:
    empty = YamlMap()
    empty.line, empty.key_lines, empty.value_lines = 1, {}, {}
    return empty
