"""What every adapter shares in one process: settings, the course service and the lab assistant.

With ``COURSEBOT_REDIS_URL`` set, several processes of one bot share through Redis what one process keeps in
memory (``bot.core.shared``): the platforms' rate budgets (``Runtime.budget``), the answer slots and a Stop
pressed on any process. Without it nothing of that is loaded: the embedded default of one process.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.store import store_for
from bot.health import Connections

if TYPE_CHECKING:
    from bot.core.labs import LabAssistant, LabConfig
    from bot.core.recovery import Reconciler
    from bot.core.shared.budget import SharedBudget
    from bot.core.shared.link import RedisLink


@dataclass
class Runtime:
    settings: Settings
    course: CourseService
    labs: LabAssistant | None  # None when ANTHROPIC_API_KEY is not set
    recovery: Reconciler | None = None  # with labs: repairs answers cut by a process that stopped
    link: RedisLink | None = None  # with COURSEBOT_REDIS_URL: what every process of the bot shares

    @classmethod
    async def start(cls, settings: Settings, connections: Connections | None = None) -> Runtime:
        """Load and validate the content, open (and migrate) the database, connect to Redis if configured,
        build the Claude client. ``connections`` (the health file) hears whether Redis is reachable.

        The anthropic SDK is imported only when a key is set: it is most of the start-up time.
        """
        content = load_course(settings.content)
        store = store_for(settings.db)
        await store.open()
        link = None
        try:
            course = CourseService(content, store)
            link = await open_link(settings, connections)
            labs = recovery = None
            if settings.anthropic_api_key is not None:
                from bot.core.recovery import Reconciler

                labs = build_labs(settings, course, link)
                await labs.start()
                recovery = Reconciler(store, labs.owner)
        except BaseException:
            if link is not None:
                await link.close()
            await store.close()
            raise
        settle_heap()
        return cls(settings=settings, course=course, labs=labs, recovery=recovery, link=link)

    def budget(self, platform: str, token: str) -> SharedBudget | None:
        """The rate budget every process of this bot shares on ``platform`` (None: one process, its own)."""
        if self.link is None:
            return None
        from bot.core.shared.budget import SharedBudget
        from bot.core.shared.link import app_id

        return SharedBudget(self.link, scope=app_id(platform, token))

    async def drain(self, grace: float | None = None) -> None:
        """Shutdown, while the platforms are still connected: refuse new lab questions, let running answers
        finish for up to ``grace`` seconds (default ``COURSEBOT_SHUTDOWN_GRACE``), then end the rest as
        interrupted."""
        if self.labs is not None:
            await self.labs.drain(self.settings.shutdown_grace if grace is None else grace)

    async def close(self) -> None:
        if self.recovery is not None:
            await self.recovery.close()
        if self.labs is not None:
            await self.labs.close()
        if self.link is not None:
            await self.link.close()
        await self.course.store.close()


async def open_link(settings: Settings, connections: Connections | None) -> RedisLink | None:
    """The process's Redis link when ``COURSEBOT_REDIS_URL`` is set; its ups and downs go to the health file."""
    if settings.redis_url is None:
        return None
    from bot.core.shared.link import LinkState, RedisLink, app_id

    def changed(state: LinkState) -> None:
        if connections is not None:
            connections.degrade("redis", None if state.up else state.describe())

    # The processes of one bot are those sharing its database: their keys are named after it.
    link = RedisLink(settings.redis_url.get_secret_value(), app=app_id("db", settings.db),
                     fallback_share=settings.redis_fallback_share, on_change=changed)
    await link.start()
    return link


def build_labs(settings: Settings, course: CourseService, link: RedisLink | None = None) -> LabAssistant:
    """The lab assistant with its Claude client, from the settings (``ANTHROPIC_API_KEY`` must be set); with a
    Redis ``link``, its answer slots and Stop are shared by every process of the bot."""
    from bot.core.claude import make_client
    from bot.core.labs import LabAssistant

    if settings.anthropic_api_key is None:
        raise ValueError("ANTHROPIC_API_KEY is not set")
    client = make_client(
        settings.anthropic_api_key.get_secret_value(), base_url=settings.anthropic_base_url,
        max_retries=settings.max_retries, read_timeout=settings.read_timeout,
    )
    config = lab_config(settings)
    if link is None:
        return LabAssistant(client, config, course, course.store)
    from bot.core.shared.slots import SharedSlots
    from bot.core.shared.stop_bus import RedisStopBus

    slots = SharedSlots(link, per_learner=config.answers_per_learner, total=config.max_concurrent_answers)
    return LabAssistant(client, config, course, course.store, slots=slots, stop_bus=RedisStopBus(link))


def lab_config(settings: Settings) -> LabConfig:
    """The lab assistants' plain values from the settings."""
    from bot.core.labs import LabConfig

    return LabConfig(
        model=settings.model,
        max_tokens=settings.max_tokens,
        read_timeout=settings.read_timeout,
        history_budget_chars=settings.history_budget_chars,
        max_question_chars=settings.max_question_chars,
        answers_per_learner=settings.answers_per_learner,
        max_concurrent_answers=settings.max_concurrent_answers,
        questions_per_hour=settings.questions_per_hour,
        output_tokens_per_day=settings.tokens_per_day,
        config_error_cooldown=settings.config_error_cooldown,
    )


def settle_heap() -> None:
    """Take everything alive after start-up out of the garbage collector's full passes.

    The imported libraries, the SDK's types and the content live as long as the process. Left in the
    collector's oldest generation, every full collection walks them all: under 100 streaming answers one such
    pass stalled the event loop for 96 ms, the whole tail of first-visible latency (bench/RESULTS.md).
    """
    gc.collect()
    gc.freeze()
