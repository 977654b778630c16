"""The kernel reset: before every graded test cell, undo what a student's cell did to IPython itself.

A student's cell can hook the kernel so that later cells never run as written: an input or AST
transformer that empties or rewrites every cell, a trace function, an event callback, a replaced
`run_cell` or `showtraceback` (on the shell or on its class), a custom exception handler that swallows
the failure. Any of these would let a test "pass" without running.

Right after the kernel starts, before any student code, the grader sends SNAPSHOT out of band (a user
expression): it records the genuine hooks present at start (by identity, with their code objects) and
defines the reset, whose names are bound to a private copy of the builtins taken at that moment.
Before each graded test cell the grader sends RESET, which puts back exactly what was there at start:
hooks are compared by identity, not by the module they claim to come from, and custom_exceptions,
showtraceback and _showtraceback are restored. If the answer 'clean' does not come back, the grader
fails that test cell.

This runs inside the student's process, so it raises the bar rather than closing the door (the README,
"What grading cannot prevent"); the kernel's sandbox (grading.sandbox) is what keeps everything else
out of reach.
"""

# Methods of the shell (and of its classes) that decide whether and how a cell runs and fails.
SHELL_METHODS = ("run_cell", "run_cell_async", "_run_cell", "transform_cell", "transform_ast", "run_ast_nodes",
                 "run_code", "should_run_async", "showtraceback", "_showtraceback", "showsyntaxerror",
                 "user_expressions", "ev", "ex")

_SNAPSHOT_SOURCE = r'''
import builtins as _b, sys as _sys
_B = dict(vars(_b))                      # the genuine builtins, as they are before any student code
ip = get_ipython()
itm = ip.input_transformer_manager
def _code_of(f):
    f = getattr(f, "__func__", f)
    return (f, f.__code__) if hasattr(f, "__code__") else None
classes = [c for c in type(ip).__mro__ if c is not object]
snap = {
    "manager": itm,
    "lists": [(itm, n, tuple(getattr(itm, n))) for n in ("cleanup_transforms", "line_transforms", "token_transformers")
              if isinstance(getattr(itm, n, None), list)],
    "post": tuple(ip.input_transformers_post),
    "ast": tuple(ip.ast_transformers),
    "events": {k: tuple(v) for k, v in ip.events.callbacks.items()},
    "class": [(c, n, c.__dict__[n]) for c in classes for n in METHODS if n in c.__dict__],
    "custom_exceptions": ip.custom_exceptions, "CustomTB": getattr(ip, "CustomTB", None),
    "excepthook": _sys.excepthook, "displayhook": _sys.displayhook,
}
allowed_callbacks = []
try:                                      # figures still show inline after a reset
    import matplotlib_inline.backend_inline as _mi
    allowed_callbacks.append(_mi.flush_figures)
except Exception:
    pass
codes = [c for c in map(_code_of, [v for _, _, v in snap["class"]] + list(snap["post"]) + list(snap["ast"])
                        + [f for _, _, fs in snap["lists"] for f in fs] + allowed_callbacks) if c]

def reset(_B=_B, _sys=_sys, ip=ip, snap=snap, codes=codes, allowed=tuple(allowed_callbacks)):
    _list, _tuple, _setattr, _any = _B["list"], _B["tuple"], _B["setattr"], _B["any"]
    for f, code in codes:
        if f.__code__ is not code:
            f.__code__ = code
    for c, n, v in snap["class"]:
        if c.__dict__.get(n) is not v:
            _setattr(c, n, v)
    for n in METHODS:
        ip.__dict__.pop(n, None)
    ip.input_transformer_manager = snap["manager"]
    for owner, n, items in snap["lists"]:
        _setattr(owner, n, _list(items))
    ip.input_transformers_post = _list(snap["post"])
    ip.ast_transformers = _list(snap["ast"])
    for k in _list(ip.events.callbacks):
        start = snap["events"].get(k, ())
        ip.events.callbacks[k] = [f for f in ip.events.callbacks[k]
                                  if _any(f is g for g in start) or _any(f is g for g in allowed)]
    ip.custom_exceptions = snap["custom_exceptions"]
    if snap["CustomTB"] is not None:
        ip.CustomTB = snap["CustomTB"]
    _sys.excepthook, _sys.displayhook = snap["excepthook"], snap["displayhook"]
    _sys.settrace(None)
    _sys.setprofile(None)
    return "clean"

_sys._vae_grader_reset = reset

def forget(_B=_B, ip=ip, marker="### BEGIN HIDDEN TESTS"):
    """Drop the source of every cell holding hidden tests from what the kernel remembers of its input."""
    _isinstance, _str, _list, _tuple = _B["isinstance"], _B["str"], _B["list"], _B["tuple"]
    shown = "# (hidden tests: not kept in the kernel's history)\n"
    def clean(v):
        return shown if _isinstance(v, _str) and marker in v else v
    hm = ip.history_manager
    for seq in (hm.input_hist_parsed, hm.input_hist_raw):
        seq[:] = [clean(v) for v in seq]
    for k in ("_i00", "_i", "_ii", "_iii"):   # what the next cell copies into _i, _ii, _iii
        if _isinstance(getattr(hm, k, None), _str):
            _B["setattr"](hm, k, clean(getattr(hm, k)))
    ns = ip.user_ns
    for k in _list(ns):
        if _isinstance(k, _str) and k.startswith("_i"):
            ns[k] = clean(ns[k])
    ns["In"] = ns["_ih"] = hm.input_hist_parsed
    import linecache as _lc
    for cache in (_lc.cache, getattr(_lc, "_ipython_cache", {})):
        for k in _list(cache):
            v = cache[k]
            lines = v[2] if _isinstance(v, _tuple) and len(v) > 2 else None
            if lines and _B["any"](marker in line for line in lines):
                cache[k] = (len(shown), None, [shown], k)
    try:
        hm.db.execute("DELETE FROM history WHERE source LIKE ? OR source_raw LIKE ?", ("%" + marker + "%",) * 2)
    except Exception:
        pass
    return "forgotten"

_sys._vae_grader_forget = forget
'''

SNAPSHOT = ("(lambda ns: (exec(ns['src'], ns), 'snapshot')[-1])("
            f"{{'src': {_SNAPSHOT_SOURCE!r}, 'METHODS': {SHELL_METHODS!r}, 'get_ipython': get_ipython}})")
SNAPSHOT_OK = "'snapshot'"

RESET = "__import__('sys')._vae_grader_reset()"
RESET_OK = "'clean'"

# After each graded test cell: the kernel forgets the cell's source (In, _ih, _i*, the history
# manager, linecache), so a later student cell cannot print the hidden tests into its own output,
# which the feedback shows.
FORGET = "__import__('sys')._vae_grader_forget()"
FORGET_OK = "'forgotten'"
