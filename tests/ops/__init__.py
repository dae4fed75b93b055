import pytest

# Plain asserts in the shared helpers report their operands, as in the test modules.
pytest.register_assert_rewrite("tests.ops.support")
