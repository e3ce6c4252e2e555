from redline.screening.flatten import flatten


def test_conversation_tools_and_tool_calls_are_all_read() -> None:
    messages = [
        {"role": "system", "content": "You control the turret."},
        {"role": "user", "content": [{"type": "text", "text": "contact bearing 040"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "fire", "arguments": '{"t": 7}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "fired"},
    ]
    tools = [{"type": "function", "function": {"name": "fire", "description": "Fire the gun",
                                               "parameters": {"properties": {"t": {"description": "track id"}}}}}]
    text = flatten(messages, tools)
    for needle in ["You control the turret", "contact bearing 040", 'call fire({"t": 7})', "fired",
                   "tool fire: Fire the gun (t: track id)"]:
        assert needle in text


def test_anthropic_blocks_and_system() -> None:
    messages = [{"role": "assistant", "content": [{"type": "tool_use", "name": "engage", "input": {"id": 3}}]}]
    text = flatten(messages, [{"name": "engage", "description": "strike", "input_schema": {}}], system="be brief")
    assert text.startswith("system: be brief")
    assert 'call engage({"id": 3})' in text
    assert "tool engage: strike" in text
