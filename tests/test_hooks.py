import pytest

from lifecycle import CallbackRegistry, Hook
from lifecycle.hooks import as_hook


def test_hook_values_are_the_documented_strings() -> None:
    assert {h.name: h.value for h in Hook} == {
        "INPUT": "input",
        "SUCCESS": "success",
        "FAILURE": "failure",
        "ASYNC_SUCCESS": "async_success",
        "ASYNC_FAILURE": "async_failure",
        "SERVICE": "service",
        "CALLBACKS": "callbacks",
    }


@pytest.mark.parametrize("hook", list(Hook))
def test_member_and_string_value_are_the_same_hook(hook: Hook) -> None:
    assert as_hook(hook) is hook
    assert as_hook(hook.value) is hook


@pytest.mark.parametrize("bad", ["SUCCESS", "succes", "", None, 3, ["success"]])
def test_unknown_hook_is_a_value_error_listing_the_valid_values(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        as_hook(bad)
    assert "'async_failure'" in str(info.value) and "'callbacks'" in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.add("nope", print),
        lambda r: r.callbacks("nope"),
        lambda r: r.count("nope"),
        lambda r: r.remove(print, "nope"),
        lambda r: r.remove_by_type(int, "nope"),
        lambda r: r.clear("nope"),
        lambda r: r.dispatch("nope"),
        lambda r: r.dispatcher("nope"),
        lambda r: r.dispatch(["unhashable"]),
    ],
)
def test_every_method_taking_a_hook_rejects_unknown_ones(registry: CallbackRegistry, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"expected a lifecycle\.Hook"):
        call(registry)
    assert len(registry) == 0
