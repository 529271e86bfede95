"""A tiny course built straight from the model dataclasses, for unit tests that must not depend on content/.

Also the store helpers the store and course-service tests share.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

from bot.core.content.model import Course, KeyTerm, Lab, Lesson, Module, ModuleTest, Option, Question, Quiz, Section
from bot.core.store import store_for
from bot.core.store.base import LearnerRef, Store

MODULE = 5


def make_question(question_id: str, *, options: int = 3, correct: int = 0) -> Question:
    """A question whose option ``correct`` is right; the others are wrong."""
    return Question(
        id=question_id,
        prompt=f"Prompt for {question_id}?",
        options=tuple(
            Option(index=i, label=f"{question_id} option {i}", correct=i == correct, feedback=f"feedback {i}")
            for i in range(options)
        ),
        explanation=f"Why {question_id} works this way.",
    )


def make_module(
    number: int = MODULE, *, lessons: int = 3, quiz_questions: int = 3, labs: int = 2,
    test_questions: int = 15, pass_mark: float = 0.8,
) -> Module:
    """Lessons 1..lessons, each with a quiz; labs 1..labs on the first lessons; a test unless test_questions is 0.

    The correct option varies (``index % 3``) so that code assuming "option 0 is right" fails.
    """
    lesson_map = {
        n: Lesson(
            number=n,
            title=f"Lesson {n}",
            summary=f"Summary {n}.",
            opening_question=f"Opening question {n}?",
            sections=(Section(heading="Body", markdown=f"Text of lesson {n}."),),
            key_terms=(KeyTerm(term="TTFT", definition="Time to first token."),),
        )
        for n in range(1, lessons + 1)
    }
    quizzes = {
        n: Quiz(
            lesson=n,
            title=f"Quiz {n}",
            questions=tuple(make_question(f"l{n}-q{i}", correct=i % 3) for i in range(1, quiz_questions + 1)),
        )
        for n in lesson_map
    }
    lab_map = {
        n: Lab(
            number=n,
            lesson=n,
            title=f"Lab {n}",
            assistant_name=f"Assistant {n}",
            specialty="Streaming.",
            greeting="Hello!",
            suggested_questions=("Why stream?", "What is TTFT?"),
            system_prompt="You teach streaming.",
            questions_to_complete=3,
        )
        for n in range(1, labs + 1)
    }
    test = None
    if test_questions:
        test = ModuleTest(
            title=f"Module {number} test",
            questions=tuple(make_question(f"t{i}", correct=i % 3) for i in range(1, test_questions + 1)),
            pass_mark=pass_mark,
        )
    return Module(
        number=number, title=f"Module {number}", summary="A module.", lessons=lesson_map, quizzes=quizzes,
        labs=lab_map, test=test, folder=f"module-{number}",
    )


def make_course(*modules: Module, default_module: int = MODULE) -> Course:
    """A course of the given modules (default: one module built by ``make_module``)."""
    chosen = modules or (make_module(),)
    return Course(title="Test course", default_module=default_module, modules={m.number: m for m in chosen})


def wrong_index(question: Question) -> int:
    """An option index that is wrong for ``question``."""
    return next(option.index for option in question.options if not option.correct)


def learner(n: int = 1, *, platform: str = "discord", workspace: str = "guild-1") -> LearnerRef:
    return LearnerRef(platform=platform, workspace=workspace, user_id=f"user-{n}", display_name=f"Learner {n}")


@asynccontextmanager
async def opened_store(target: Path | str) -> AsyncIterator[Store]:
    """The open store for ``target`` (a SQLite path or a PostgreSQL DSN), closed afterwards."""
    store = store_for(target)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def count(db_path: Path, sql: str, *params: object) -> int:
    """A number read with a separate plain sqlite3 connection (what is really on disk)."""
    with closing(sqlite3.connect(db_path)) as db:
        return db.execute(sql, params).fetchone()[0]
