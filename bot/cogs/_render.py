"""Course content as Discord embeds, within Discord's limits.

Lessons become a header embed, one embed per section (continued over several when a section is longer
than an embed description) and a key-terms embed; the embeds are packed into messages of at most
10 embeds and 6000 characters. Markdown tables, which Discord does not draw, become an aligned code
block when narrow and a list of rows otherwise; ``###`` headings become bold lines; paragraphs wrapped
in the source are joined (Discord shows every line break).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import discord

from bot.core.citations import SectionText
from bot.core.content import markdown as md
from bot.core.content.model import Lesson, Module, Question
from bot.core.course import ModuleProgress, QuestionStats, QuizOutcome, TestResult, TestState
from bot.core.links import honest_links
from bot.core.streaming.chunking import split_message

DESCRIPTION_MAX = 4096
TITLE_MAX = 256
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBEDS_PER_MESSAGE = 10
CHARS_PER_MESSAGE = 6000
CONTENT_MAX = 2000
ANSWER_MAX = 4000  # a lab answer's text per message: an embed's description, with room for honest links
NO_PINGS = discord.AllowedMentions.none()
STATS_PROMPT_MAX = 90

COLOUR = discord.Colour.blurple()
CORRECT = discord.Colour.green()
WRONG = discord.Colour.orange()

_VERDICT = re.compile(r"^\s*(correct|not quite)\s*[.!:]\s*", re.IGNORECASE)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_embed(text: str) -> discord.Embed:
    """A lab answer's message: the model's Markdown with honest links, in one embed."""
    return discord.Embed(description=clip(honest_links(text), DESCRIPTION_MAX), colour=COLOUR)


def bar(done: int, total: int, width: int = 10) -> str:
    """A text progress bar: ``▰▰▰▱▱▱▱▱▱▱``."""
    filled = round(width * done / total) if total else 0
    return "▰" * filled + "▱" * (width - filled)


# -- Markdown for Discord ---------------------------------------------------------------------------


class _DiscordMarkdown(md.Renderer):
    """Discord draws ``#`` and ``##`` headings but not deeper ones, and no tables."""

    table_width = 56  # wider tables read better as a list on phones

    def heading(self, heading: md.Heading) -> str:
        return super().heading(heading) if heading.level <= 2 else f"**{heading.text}**"

    def wide_table(self, table: md.Table) -> str:
        """One bold entry per row, its cells labelled by the column headers; a first column of row numbers
        joins the second in the entry's name ("1. message_start")."""
        header, width = table.header, len(table.header)
        named_by = 2 if width > 2 and all(row[0].isdigit() for row in table.rows) else 1
        items = []
        for row in table.rows:
            name = f"{row[0]}. {row[1]}" if named_by == 2 else row[0] or "•"
            details = [f"{header[i] or '—'}: {row[i]}" for i in range(named_by, width) if row[i]]
            items.append(f"**{name}**\n" + "\n".join(f"• {detail}" for detail in details))
        return "\n\n".join(items)


_DISCORD_MARKDOWN = _DiscordMarkdown()


def discord_markdown(markdown: str) -> str:
    """Lesson Markdown as Discord Markdown: deep headings become bold lines, wrapped lines are joined and
    tables become an aligned code block when narrow, else a list of rows (code blocks stay copyable)."""
    return _DISCORD_MARKDOWN.render(markdown)


# -- Lessons -----------------------------------------------------------------------------------------


def pack(embeds: Iterable[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds into messages of at most 10 embeds and 6000 characters."""
    messages: list[list[discord.Embed]] = [[]]
    size = 0
    for embed in embeds:
        current = messages[-1]
        if current and (len(current) == EMBEDS_PER_MESSAGE or size + len(embed) > CHARS_PER_MESSAGE):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += len(embed)
    return [m for m in messages if m]


def _section_embeds(heading: str, markdown: str) -> list[discord.Embed]:
    parts = split_message(discord_markdown(markdown), DESCRIPTION_MAX) or [""]
    embeds = []
    for index, part in enumerate(parts):
        title = heading if index == 0 or not heading else f"{heading} (continued)"
        embeds.append(discord.Embed(title=clip(title, TITLE_MAX) or None, description=part or None, colour=COLOUR))
    return embeds


def source_messages(section: SectionText) -> list[list[discord.Embed]]:
    """A lesson section a learner opened from an answer's sources, as the lesson shows it."""
    return pack(_section_embeds(section.title, section.markdown))


def lesson_embeds(module: Module, lesson: Lesson) -> list[discord.Embed]:
    """Every embed of a lesson, in reading order.

    The header holds the summary, the opening question and the text before the first heading (when it
    fits); then one embed per section and the key terms as fields.
    """
    opening = f"**{lesson.opening_question}**" if lesson.opening_question else ""
    intro = "\n\n".join(part for part in (lesson.summary, opening) if part)
    sections = list(lesson.sections)
    if sections and not sections[0].heading:
        lead = discord_markdown(sections[0].markdown)
        if len(intro) + len(lead) + 2 <= DESCRIPTION_MAX:
            intro = "\n\n".join(part for part in (intro, lead) if part)
            sections.pop(0)
    header = discord.Embed(
        title=clip(f"Lesson {lesson.number}: {lesson.title}", TITLE_MAX),
        description=clip(intro, DESCRIPTION_MAX) or None,
        colour=COLOUR,
    )
    header.set_author(name=clip(f"Module {module.number}: {module.title}", 256))
    embeds = [header]
    for section in sections:
        embeds += _section_embeds(section.heading, section.markdown)
    terms: discord.Embed | None = None
    for term in lesson.key_terms:
        name, value = clip(term.term, FIELD_NAME_MAX), clip(term.definition, FIELD_VALUE_MAX)
        if terms is None or len(terms.fields) == FIELDS_MAX or len(terms) + len(name) + len(value) > CHARS_PER_MESSAGE:
            terms = discord.Embed(title="Key terms" if terms is None else "Key terms (continued)", colour=COLOUR)
            embeds.append(terms)
        terms.add_field(name=name, value=value, inline=False)
    embeds[-1].set_footer(text=f"Module {module.number} · Lesson {lesson.number} of {len(module.lessons)}")
    return embeds


# -- Quizzes and the test ------------------------------------------------------------------------------


def without_verdict(feedback: str) -> str:
    """Option feedback without its leading "Correct." / "Not quite." (the bot shows its own verdict)."""
    return _VERDICT.sub("", feedback, count=1)


def quiz_feedback(outcome: QuizOutcome, number: int) -> str:
    """The ephemeral reply to a quiz option button: verdict, the counted option, its feedback and the explanation."""
    chosen = f"**{outcome.chosen.letter}. {outcome.chosen.label}**"
    if outcome.already_answered:
        verdict = "✅ correct" if outcome.correct else "❌ not quite"
        head = f"You already answered question {number}: {chosen} ({verdict}). Only your first answer counts."
    elif outcome.correct:
        head = f"✅ Correct! Question {number}: {chosen}"
    else:
        head = f"❌ Not quite. Question {number}: you chose {chosen}."
    return feedback_message(head, outcome)


def feedback_message(head: str, outcome: QuizOutcome, *after: str) -> str:
    """``head``, then the chosen option's feedback and the question's explanation (a quiz or a review answer)."""
    why = outcome.question.explanation
    parts = [head, without_verdict(outcome.chosen.feedback), f"💡 {why}" if why else "", *after]
    return clip("\n".join(part for part in parts if part), CONTENT_MAX)


def options_text(question: Question) -> str:
    return "\n".join(f"**{option.letter}.** {option.label}" for option in question.options)


def question_embed(title: str, question: Question, *, colour: discord.Colour = COLOUR) -> discord.Embed:
    description = clip(f"**{question.prompt}**\n\n{options_text(question)}", DESCRIPTION_MAX)
    return discord.Embed(title=clip(title, TITLE_MAX), description=description, colour=colour)


def respondents_line(count: int) -> str:
    if count == 0:
        return "👥 No answers yet: pick an option below; your result is shown only to you."
    return f"👥 {count} learner{'s' if count != 1 else ''} answered. Pick an option below; only you see your result."


def test_question_embed(state: TestState, *, resumed: bool = False) -> discord.Embed:
    question = state.next_question
    test = state.module.test
    name = test.title if test else f"Module {state.module.number} test"
    embed = question_embed(f"{name} · Question {state.position}/{state.total}", question)
    answered = state.position - 1
    embed.set_author(name=f"{bar(answered, state.total, 15)} {answered}/{state.total} answered")
    footer = "Resumed where you left off. " if resumed else ""
    embed.set_footer(text=footer + "Only you see this test. Your answers are saved as you go.")
    return embed


def test_result_embeds(result: TestResult) -> list[discord.Embed]:
    verdict = "✅ Passed" if result.passed else "❌ Not passed yet"
    mark = result.pass_percent
    summary = discord.Embed(
        title=f"{verdict}: {result.score}/{result.total} ({result.percent}%)",
        description=(
            f"{bar(result.score, result.total, 15)}\n\nPass mark: {mark}%. Best score: {result.best_percent}% "
            f"over {result.attempts} attempt{'s' if result.attempts != 1 else ''}."
            + ("" if result.passed else "\nReview the lessons below, then run `/test` to try again.")
        ),
        colour=CORRECT if result.passed else WRONG,
    )
    if result.missed:
        return [summary, discord.Embed(title="Review", description=review_text(result), colour=WRONG)]
    return [summary]


def review_text(result: TestResult, limit: int = 4000) -> str:
    """The missed questions with the right answer and its explanation, cut to ``limit`` characters."""
    parts: list[str] = []
    size = 0
    for shown, (question, chosen) in enumerate(result.missed):
        right = question.correct_option
        why = question.explanation or without_verdict(right.feedback)
        part = (f"**{question.prompt}**\nYou chose {chosen.letter}. {chosen.label}\n"
                f"Answer: {right.letter}. {right.label}" + (f"\n{why}" if why else ""))
        if size + len(part) + 2 > limit - 120:
            parts.append(f"…and {len(result.missed) - shown} more: revisit the lessons, then retake the test.")
            break
        parts.append(part)
        size += len(part) + 2
    return clip("\n\n".join(parts), DESCRIPTION_MAX)


# -- Progress and statistics ---------------------------------------------------------------------------


def progress_embed(progress: ModuleProgress, name: str) -> discord.Embed:
    module = progress.module
    embed = discord.Embed(title=clip(f"{name}'s progress: Module {module.number}: {module.title}", TITLE_MAX),
                          colour=COLOUR)
    lessons = module.lesson_numbers
    viewed = len(progress.lessons_viewed & set(lessons))
    lesson_lines = [f"{'✅' if n in progress.lessons_viewed else '▫️'} Lesson {n}: {module.lessons[n].title}"
                    for n in lessons]
    embed.add_field(name=f"Lessons {bar(viewed, len(lessons))} {viewed}/{len(lessons)}",
                    value=clip("\n".join(lesson_lines) or "No lessons.", FIELD_VALUE_MAX), inline=False)
    quiz_lines = []
    for lesson, quiz in sorted(module.quizzes.items()):
        total = len(quiz.questions)
        correct = progress.quiz_correct.get(lesson, 0)
        answered = progress.quiz_answered.get(lesson, 0)
        quiz_lines.append(f"Lesson {lesson}: {bar(correct, total, 6)} {correct}/{total} correct ({answered} answered)")
    embed.add_field(name="Quizzes", value=clip("\n".join(quiz_lines) or "No quizzes.", FIELD_VALUE_MAX), inline=False)
    lab_lines = []
    for number, lab in sorted(progress.labs.items()):
        need = lab.lab.questions_to_complete
        lab_lines.append(f"{'✅' if lab.complete else '▫️'} Lab {number}: {bar(min(lab.asked, need), need, 6)} "
                         f"{min(lab.asked, need)}/{need} questions")
    embed.add_field(name="Labs", value=clip("\n".join(lab_lines) or "No labs.", FIELD_VALUE_MAX), inline=False)
    if progress.best_test_percent is None:
        test = "Not taken yet: run `/test`."
    else:
        test = (f"{bar(progress.best_test_percent, 100)} best {progress.best_test_percent}% · "
                f"{'✅ passed' if progress.test_passed else 'not passed yet'} · {progress.test_attempts} attempt"
                f"{'s' if progress.test_attempts != 1 else ''}")
    embed.add_field(name="Module test", value=test, inline=False)
    return embed


def stats_messages(stats: Sequence[QuestionStats], module: Module) -> list[list[discord.Embed]]:
    """Per question, the share of first answers that were correct; one list of embeds per message."""
    lines = []
    numbers: dict[tuple[str, int], int] = {}
    for entry in stats:
        number = numbers[entry.kind, entry.scope] = numbers.get((entry.kind, entry.scope), 0) + 1
        scope = f"Quiz {entry.scope}" if entry.kind == "quiz" else "Test"
        prompt = clip(entry.question.prompt, STATS_PROMPT_MAX)
        if not entry.answered:
            lines.append(f"`{scope} Q{number}` no answers yet · {prompt}")
            continue
        share = round(entry.share_correct * 100)
        lines.append(f"`{scope} Q{number}` {bar(share, 100, 8)} {share}% of {entry.answered} · {prompt}")
    parts = split_message("\n".join(lines) or "No questions.", DESCRIPTION_MAX)
    title = f"Module {module.number} statistics: share of first answers that were correct"
    embeds = [discord.Embed(title=clip(title if i == 0 else "(continued)", TITLE_MAX), description=part,
                            colour=COLOUR) for i, part in enumerate(parts)]
    embeds[-1].set_footer(text="Per-option counts and question ids are in the attached CSV.")
    return pack(embeds)
