"""How long is each lab's cached prefix (persona and lesson), against the default model's minimum cacheable length?

    python bench/bench_prefix.py [--content content] [--count-tokens]

The prefix is what every lab request sends before its cache breakpoint: the system blocks (``system_blocks``)
and the lesson document (``lesson_document``, which carries the ``cache_control``). Below the model's minimum
cacheable length nothing is cached (the usage's cache counters stay 0) and every question pays for the whole
prefix at the full input price.

Without ``--count-tokens`` the length is estimated at four characters a token, the usual rule of thumb for
English prose (code and Markdown punctuation run denser, so real counts are likely somewhat higher). With
``--count-tokens`` (and ``ANTHROPIC_API_KEY`` set) the API's ``messages.count_tokens`` counts the same system
blocks and a first message of the document and a one-word question, for ``COURSEBOT_MODEL``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anthropic import AsyncAnthropic  # noqa: E402

from bot.config import DEFAULT_MODEL  # noqa: E402
from bot.core.citations import lesson_document, with_document  # noqa: E402
from bot.core.content.loader import load_course  # noqa: E402
from bot.core.labs import system_blocks  # noqa: E402

CHARS_PER_TOKEN = 4
# The published minimum cacheable prompt for the Haiku line (Haiku 4.5); no figure is published yet for the
# default model's id, so the same family's is used (see bench/RESULTS.md).
MIN_CACHEABLE = 4096


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=Path("content"))
    parser.add_argument("--count-tokens", action="store_true", help="ask the API's count_tokens (needs a key)")
    args = parser.parse_args()
    course = load_course(args.content)
    client = AsyncAnthropic() if args.count_tokens else None
    print(f"model {DEFAULT_MODEL}, minimum cacheable prefix {MIN_CACHEABLE} tokens")
    print("| Lab | persona (chars) | lesson document (chars) | prefix tokens | counted by | cached? |")
    print("|---|---|---|---|---|---|")
    try:
        for module in course.modules.values():
            for lab in module.labs.values():
                lesson = module.lessons[lab.lesson]
                system = system_blocks(lab, lesson)
                document = lesson_document(lesson)
                persona_chars = sum(len(block["text"]) for block in system)
                document_chars = sum(len(block["text"]) for block in document["source"]["content"])
                if client is not None:
                    counted = await client.messages.count_tokens(
                        model=DEFAULT_MODEL, system=system,
                        messages=with_document(document, [{"role": "user", "content": "?"}]),
                    )
                    tokens, how = counted.input_tokens, "count_tokens"
                else:
                    tokens, how = (persona_chars + document_chars) // CHARS_PER_TOKEN, "4 chars/token"
                verdict = "yes" if tokens >= MIN_CACHEABLE else "no (full price every question)"
                print(f"| {module.number}.{lab.number} | {persona_chars:,} | {document_chars:,} | {tokens:,} | {how} "
                      f"| {verdict} |")
    finally:
        if client is not None:
            await client.close()


if __name__ == "__main__":
    asyncio.run(main())
