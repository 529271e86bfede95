"""What several bot processes of one app share through Redis (``COURSEBOT_REDIS_URL``).

- :class:`~bot.core.shared.link.RedisLink`: the one connection, whether Redis is reachable, and the share of
  each budget a process falls back to when it is not;
- :class:`~bot.core.shared.budget.SharedBudget`: request slots in sliding windows kept in Redis (the app's rate
  budgets), one Lua script per acquire;
- :class:`~bot.core.shared.stop_bus.RedisStopBus`: a Stop pressed on any process reaches the one streaming;
- :class:`~bot.core.shared.slots.SharedSlots`: per-learner and total concurrent answers across processes.

Without Redis the in-process twins serve one process (``bot.core.slots.AnswerSlots``, ``LocalStopBus``, a
``Pacer`` without ``shared``). Nothing here is imported unless Redis is configured, so a single-process bot
never loads the Redis client.
"""
