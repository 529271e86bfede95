async def test_fixture(fake_anthropic):
    assert fake_anthropic.url.startswith("http://127.0.0.1:")
