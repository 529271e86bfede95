"""The instructor's progress CSV, a learner's own export, and forgetting with an expiring confirmation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.course import CourseService, StaleButton
from bot.core.data_rights import CONFIRM_FOR, ConfirmationExpired, DataRights
from bot.core.instructor import PROGRESS_COLUMNS, InstructorView
from bot.core.store.base import LabTurn
from bot.core.store.learner_tables import LEARNER_TABLES
from tests.unit.course_factory import count, learner, make_course, make_module, opened_store, wrong_index

MODULE = make_module(lessons=3, labs=2, test_questions=5, pass_mark=0.8)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "course.db"


@pytest.fixture
async def service(db_path: Path) -> AsyncIterator[CourseService]:
    async with opened_store(db_path) as store:
        yield CourseService(make_course(MODULE), store)


async def _take_test(service: CourseService, n: int, right: int) -> None:
    step = await service.start_test(learner(n))
    while not hasattr(step, "passed"):
        question = step.next_question  # type: ignore[union-attr]
        option = question.correct_option.index if step.position <= right else wrong_index(question)  # type: ignore[union-attr]
        step = await service.answer_test(learner(n), step.attempt.id, question.id, option, f"{n}:{question.id}")


async def _known_store(service: CourseService) -> None:
    """Learner 1: two lessons, a quiz answer right and one wrong, three lab answers (one failed), the test passed.
    Learner 2: one lesson, nothing else. Learner 3 is in another server."""
    one, two = learner(1), learner(2)
    await service.view_lesson(one, 1)
    await service.view_lesson(one, 2)
    await service.view_lesson(one, 1)
    quiz = MODULE.quizzes[1].questions
    await service.answer_quiz(one, 1, quiz[0].id, quiz[0].correct_option.index, "q-1")
    await service.answer_quiz(one, 1, quiz[1].id, wrong_index(quiz[1]), "q-2")
    thread = await service.open_lab(one, 1, "discord", "thread-1")
    for n, status in enumerate(("complete", "complete", "failed")):
        await service.store.record_lab_turn(thread.id, f"lab-{n}", LabTurn(question="Why?", answer="!", status=status))
    await _take_test(service, 1, right=4)
    await service.view_lesson(two, 3)
    await service.view_lesson(learner(3, workspace="guild-2"), 1)


async def test_the_progress_csv_has_exact_columns_and_one_row_per_learner_of_the_server(
    service: CourseService,
) -> None:
    await _known_store(service)
    text = await InstructorView(service).progress_csv("discord", "guild-1")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(PROGRESS_COLUMNS) == [
        "learner_id", "platform", "workspace", "user_id", "display_name", "lessons_viewed", "quiz_answered",
        "quiz_correct", "lab_answers", "test_attempts", "best_test_percent", "test_passed", "review_cards",
    ]
    one = str(await service.store.find_learner(learner(1)))
    two = str(await service.store.find_learner(learner(2)))
    # review cards are built when the learner opens /review, which neither has done
    assert rows[1:] == [
        [one, "discord", "guild-1", "user-1", "Learner 1", "2", "2", "1", "2", "1", "80", "yes", "0"],
        [two, "discord", "guild-1", "user-2", "Learner 2", "1", "0", "0", "0", "0", "", "no", "0"],
    ]


async def test_the_progress_csv_of_an_empty_server_is_its_header(service: CourseService) -> None:
    await _known_store(service)
    assert await InstructorView(service).progress_csv("slack", "T1") == ",".join(PROGRESS_COLUMNS) + "\r\n"


async def test_a_learners_export_holds_their_rows_and_no_one_elses(service: CourseService, db_path: Path) -> None:
    await _known_store(service)
    rights = DataRights(service.store, clock=Clock())
    export = await rights.export(learner(1))
    document = json.loads(export.content)
    tables = document["tables"]
    assert export.filename == "coursebot-data-discord-user-1.json"
    assert set(tables) == {table for table, _ in LEARNER_TABLES}
    me = await service.store.find_learner(learner(1))
    assert [row["user_id"] for row in tables["learners"]] == ["user-1"]
    assert [row["lesson"] for row in tables["lesson_views"]] == [1, 2, 1]
    assert {row["learner_id"] for table in ("lesson_views", "quiz_answers", "test_attempts", "lab_threads")
            for row in tables[table]} == {me}
    assert len(tables["lab_turns"]) == 3 and len(tables["test_answers"]) == 5
    assert export.rows == sum(len(rows) for rows in tables.values())
    assert document["exported_at"] == T0.isoformat()


async def test_exporting_an_unknown_learner_creates_no_one(service: CourseService, db_path: Path) -> None:
    export = await DataRights(service.store).export(learner(7))
    assert export.rows == 0 and json.loads(export.content)["tables"] == {}
    assert count(db_path, "SELECT COUNT(*) FROM learners") == 0


async def test_forget_deletes_every_row_of_the_learner_and_only_theirs(
    service: CourseService, db_path: Path,
) -> None:
    await _known_store(service)
    rights = DataRights(service.store, clock=Clock())
    others = {learner(2).user_id: await rights.export(learner(2)),
              "user-3": await rights.export(learner(3, workspace="guild-2"))}
    before = (await rights.export(learner(1))).rows
    assert await rights.forget(learner(1)) == before > 0
    assert not await rights.is_known(learner(1))
    assert (await rights.export(learner(1))).rows == 0
    assert await rights.export(learner(2)) == others["user-2"]  # untouched, byte for byte
    assert await rights.export(learner(3, workspace="guild-2")) == others["user-3"]
    assert await rights.forget(learner(1)) == 0  # twice is harmless


def test_a_confirmation_expires_and_a_forged_one_is_refused() -> None:
    clock = Clock()
    rights = DataRights(store=None, clock=clock)  # type: ignore[arg-type]  (no store needed to check a button)
    value = rights.confirmation("1234567890")
    assert rights.confirmed_user(value) == "1234567890"
    clock.now = T0 + CONFIRM_FOR
    assert rights.confirmed_user(value) == "1234567890"
    clock.now = T0 + CONFIRM_FOR + timedelta(seconds=1)
    with pytest.raises(ConfirmationExpired, match="nothing was deleted"):
        rights.confirmed_user(value)
    for forged in ("", "1234", ":99999999999", "a b:99999999999", "x" * 80 + ":99999999999", "U1:-5"):
        with pytest.raises(StaleButton):
            rights.confirmed_user(forged)
