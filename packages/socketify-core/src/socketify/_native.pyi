# The module cffi builds from csrc/socketify.h (build_native.py).  Its functions follow the
# header; to a type checker both objects are opaque.
from typing import Any

ffi: Any
lib: Any
