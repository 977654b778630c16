"""Values by value: what crosses between a student's kernel and the grader's checker process.

A value is packed into the bytes of an ``.npz`` file (``numpy.savez``): every array in it is a plain
numeric array, and a JSON manifest, stored as one more array of bytes, says how to rebuild the value
from them. Reading uses ``numpy.load(..., allow_pickle=False)`` and ``json.loads``: nothing in the bytes
can make the reader run code, whatever wrote them.

What is sent by value: None, bools, ints, floats, complex numbers, strings and bytes; numpy arrays and
scalars; torch tensors (with their dtype, ``requires_grad`` and ``.grad``); lists, tuples, dicts and sets
of these (a subclass of one of these containers is sent as the container); numpy and torch dtypes,
numpy random generators and torch generators (their state); modules, by name.

Anything else (a function, a model, a figure) is sent as a *reference*: where to find it in the kernel
(its path from a name of the notebook), its type's name, and whether it can be called. The checker
turns a reference into a Reference (grading.checker), which asks the kernel to call it; the kernel resolves
a reference the checker sends back to the object itself.

The grader also installs this file's source into every kernel, as a module of its own, before grading.kernel_side
(see there): it imports only the standard library and numpy at the top (tests/test_checker.py checks it).
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np

MANIFEST = "__manifest__"
MAX_NODES = 200_000      # values the manifest may hold: a notebook that sends more is refused, not read
MAX_DEPTH = 32
MAX_BYTES = 64 << 20     # the packed bytes one reply may take (the course's largest, a 20,000 x 2 float32 sample, takes 0.16 MB)


class BadValue(ValueError):
    """A value that cannot be packed or read (too deep, too large, malformed)."""


def _torch():
    return sys.modules.get("torch")


def _is_tensor(obj) -> bool:
    torch = _torch()
    return torch is not None and isinstance(obj, torch.Tensor)


def _tensor_to_numpy(t):
    """A torch tensor's values as a numpy array (bfloat16 and half travel as float32)."""
    torch = _torch()
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    if t.is_complex() or t.dtype.is_floating_point or t.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16,
                                                                    torch.int32, torch.int64):
        return t.resolve_conj().resolve_neg().numpy()
    raise BadValue(f"a tensor of dtype {t.dtype} cannot be sent")


class Packer:
    """Walks a value into a manifest (JSON-able nodes) and a dict of arrays.

    ref(obj, path) decides what a value that is not sent by value becomes: it returns a manifest node.
    """

    def __init__(self, ref):
        self.arrays: dict[str, np.ndarray] = {}
        self.ref = ref
        self.nodes = 0

    def array(self, a: np.ndarray) -> str:
        if a.dtype.hasobject:
            raise BadValue("an array of Python objects cannot be sent")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a if a.flags.c_contiguous else np.array(a, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        return key

    def node(self, obj, path: list, depth: int = 0) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise BadValue(f"the value is too large or too deeply nested (more than {MAX_NODES} items "
                              f"or {MAX_DEPTH} levels)")
        t = type(obj)
        if obj is None:
            return {"k": "none"}
        if t is bool:
            return {"k": "bool", "v": obj}
        if t is int:
            return {"k": "int", "v": obj}
        if t is float:
            return {"k": "float", "v": obj}
        if t is complex:
            return {"k": "complex", "re": obj.real, "im": obj.imag}
        if t is str:
            return {"k": "str", "v": obj}
        if t is bytes:
            return {"k": "bytes", "a": self.array(np.frombuffer(obj, dtype=np.uint8))}
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                return self.ref(obj, path)
            return {"k": "nd", "a": self.array(np.asarray(obj)), "cls": None if t is np.ndarray else t.__name__}
        if isinstance(obj, np.generic):
            if isinstance(obj, np.object_):
                return self.ref(obj, path)
            return {"k": "npscalar", "a": self.array(np.asarray(obj)), "cls": None if t.__module__ == "numpy" else t.__name__}
        if _is_tensor(obj):
            torch = _torch()
            plain = t is torch.Tensor or t is torch.nn.Parameter
            grad = obj.grad if obj.is_leaf else None
            return {"k": "tensor", "a": self.array(_tensor_to_numpy(obj)), "dtype": str(obj.dtype).replace("torch.", ""),
                    "rg": bool(obj.requires_grad), "cls": None if plain else t.__name__,
                    "param": t is torch.nn.Parameter,
                    "grad": None if grad is None else self.array(_tensor_to_numpy(grad))}
        if isinstance(obj, np.dtype):
            return {"k": "np_dtype", "v": obj.str if obj.fields is None else json.dumps(obj.descr)}
        if isinstance(obj, type) and issubclass(obj, np.generic) and obj.__module__ == "numpy":
            return {"k": "np_type", "v": obj.__name__}
        torch = _torch()
        if torch is not None and isinstance(obj, torch.dtype):
            return {"k": "torch_dtype", "v": str(obj).replace("torch.", "")}
        if isinstance(obj, np.random.Generator):
            bg = obj.bit_generator
            return {"k": "np_gen", "bg": type(bg).__name__, "state": bg.state}
        if torch is not None and isinstance(obj, torch.Generator):
            return {"k": "torch_gen", "a": self.array(obj.get_state().numpy()), "seed": obj.initial_seed()}
        if isinstance(obj, type(sys)):
            return {"k": "module", "v": obj.__name__}
        if isinstance(obj, (list, tuple, set, frozenset)) and not callable(obj):
            kind = "list" if isinstance(obj, list) else "tuple" if isinstance(obj, tuple) else "set"
            return {"k": kind, "v": [self.node(v, path + [["item", i]], depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, dict) and not callable(obj):
            keys = list(obj.keys())
            return {"k": "dict", "keys": [self.node(k, path, depth + 1) for k in keys],
                    "vals": [self.node(obj[k], path + [["item", k]] if type(k) in (str, int) else path, depth + 1)
                             for k in keys]}
        return self.ref(obj, path)


    def to_bytes(self, manifest: dict) -> bytes:
        """The .npz bytes of manifest and the arrays it names."""
        buf = io.BytesIO()
        arrays = dict(self.arrays)
        arrays[MANIFEST] = np.frombuffer(json.dumps(manifest, allow_nan=True).encode(), dtype=np.uint8)
        np.savez(buf, **arrays)
        data = buf.getvalue()
        if len(data) > MAX_BYTES:
            raise BadValue(f"the value takes {len(data) >> 20} MiB, more than the {MAX_BYTES >> 20} MiB the grader reads")
        return data


def pack(value, ref, path=()) -> bytes:
    """The bytes of an .npz file holding `value` (see the module); ref(obj, path) -> node for the rest."""
    p = Packer(ref)
    return p.to_bytes(p.node(value, list(path)))


def plain_ref(obj, path) -> dict:
    """A reference node: the object stays where it is; its type's name and whether it can be called travel."""
    return {"k": "ref", "path": path, "type": type(obj).__name__[:100], "callable": callable(obj)}


BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64", "MT19937", "Philox")


def checked_generator_state(name: str, state) -> dict:
    """A numpy bit generator's state, checked where numpy itself does not (an index out of range reads memory)."""
    if type(state) is not dict or state.get("bit_generator") != name:
        raise BadValue(f"not the state of a {name} generator")
    inner = state.get("state")
    if name == "MT19937":
        key, pos = np.asarray(inner.get("key")) if type(inner) is dict else None, inner.get("pos") if type(inner) is dict else None
        if key is None or key.shape != (624,) or key.dtype != np.uint32 or type(pos) is not int or not 0 <= pos <= 624:
            raise BadValue("a malformed MT19937 state")
    if name == "Philox" and not (type(state.get("buffer_pos")) is int and 0 <= state["buffer_pos"] <= 4):
        raise BadValue("a malformed Philox state")
    return state


def _check_zip(data: bytes):
    """The .npz must hold stored (not compressed) entries whose sizes add up to at most MAX_BYTES."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except zipfile.BadZipFile as e:
        raise BadValue(f"not an .npz file ({e})") from None
    if any(i.compress_type != zipfile.ZIP_STORED for i in infos) or sum(i.file_size for i in infos) > MAX_BYTES:
        raise BadValue(f"the .npz is compressed or unpacks to more than {MAX_BYTES >> 20} MiB")


TORCH_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128", "bool", "uint8", "int8",
                "int16", "int32", "int64")


def _torch_dtype(name):
    """The torch dtype of that name, from a fixed list (never an arbitrary attribute of torch)."""
    import torch
    if name not in TORCH_DTYPES:
        raise BadValue(f"a tensor of dtype {name!r} cannot be read")
    return getattr(torch, name)


class Unpacker:
    """Rebuilds values from the bytes of pack(). make_ref(node) decides what a reference becomes."""

    def __init__(self, data: bytes, make_ref, modules=None):
        if len(data) > MAX_BYTES:
            raise BadValue(f"the value takes more than {MAX_BYTES >> 20} MiB")
        _check_zip(data)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            self.arrays = {k: z[k] for k in z.files}
        self.manifest = json.loads(self.arrays.pop(MANIFEST).tobytes().decode())
        self.make_ref = make_ref
        self.modules = modules  # None: any module by name; else the names allowed
        self.subclasses: dict = {}
        self.nodes = 0

    def value(self):
        return self.build(self.manifest, 0)

    def arr(self, key) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise BadValue(f"the manifest names an array {key!r} that is not there")
        return self.arrays[key]

    def _subclass(self, base, name):
        """A subclass of base named like the student's own type, so that type checks see what the kernel had."""
        name = str(name)[:100]
        key = (base, name)
        if key not in self.subclasses:
            self.subclasses[key] = type(name if name.isidentifier() else "Subclass", (base,), {})
        return self.subclasses[key]

    def build(self, n, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH or not isinstance(n, dict):
            raise BadValue("the manifest is malformed, too large or too deep")
        k = n.get("k")
        if k == "none":
            return None
        if k in ("bool", "int", "float", "str"):
            v = n["v"]
            want = {"bool": bool, "int": int, "float": float, "str": str}[k]
            if type(v) is not want and not (k == "float" and type(v) is int):
                raise BadValue(f"a {k} node holds a {type(v).__name__}")
            return want(v)
        if k == "complex":
            return complex(float(n["re"]), float(n["im"]))
        if k == "bytes":
            return self.arr(n["a"]).tobytes()
        if k == "nd":
            a = self.arr(n["a"])
            return a.view(self._subclass(np.ndarray, n["cls"])) if n.get("cls") else a
        if k == "npscalar":
            return self.arr(n["a"])[()]
        if k == "tensor":
            import torch
            a = self.arr(n["a"])
            t = torch.from_numpy(np.array(a, copy=True)).to(_torch_dtype(n["dtype"]))
            if n.get("grad") is not None:
                g = torch.from_numpy(np.array(self.arr(n["grad"]), copy=True)).to(t.dtype)
            else:
                g = None
            if n.get("rg") and (t.is_floating_point() or t.is_complex()):
                t.requires_grad_(True)
            if n.get("param"):
                t = torch.nn.Parameter(t, requires_grad=bool(n.get("rg")))
            elif n.get("cls"):
                t = t.as_subclass(self._subclass(torch.Tensor, n["cls"]))
            if g is not None:
                t.grad = g
            return t
        if k in ("list", "tuple", "set"):
            items = [self.build(v, depth + 1) for v in n["v"]]
            return items if k == "list" else tuple(items) if k == "tuple" else set(items)
        if k == "dict":
            keys = [self.build(v, depth + 1) for v in n["keys"]]
            vals = [self.build(v, depth + 1) for v in n["vals"]]
            return dict(zip(keys, vals))
        if k == "np_dtype":
            v = n["v"]
            return np.dtype(v if not v.startswith("[") else [tuple(f) for f in json.loads(v)])
        if k == "np_type":
            name = str(n["v"])
            t = np.sctypeDict.get(name)
            if t is None or t.__name__ != name:
                raise BadValue(f"numpy has no scalar type {name!r}")
            return t
        if k == "torch_dtype":
            return _torch_dtype(n["v"])
        if k == "np_gen":
            name = str(n["bg"])
            if name not in BIT_GENERATORS:
                raise BadValue(f"a numpy generator with bit generator {name!r} cannot be read")
            b = getattr(np.random, name)()
            b.state = checked_generator_state(name, n["state"])
            return np.random.Generator(b)
        if k == "torch_gen":
            import torch
            g = torch.Generator()
            g.set_state(torch.from_numpy(np.array(self.arr(n["a"]), dtype=np.uint8)))
            return g
        if k == "module":
            name = str(n["v"])
            if self.modules is not None and name not in self.modules:  # top-level modules only, by exact name
                return self.make_ref({"k": "ref", "path": n.get("path", []), "type": "module", "callable": False})
            import importlib
            return importlib.import_module(name)
        if k == "ref":
            return self.make_ref(n)
        raise BadValue(f"unknown kind of value {k!r}")


def unpack(data: bytes, make_ref, modules=None):
    """The value pack() packed; references become make_ref(node)."""
    return Unpacker(data, make_ref, modules).value()


def map_tensors(value, fn):
    """value with every torch tensor t inside it (lists, tuples, dicts) replaced by fn(t, index), in tensors() order."""
    counter = iter(range(1 << 30))

    def walk(v):
        if _is_tensor(v):
            return fn(v, next(counter))
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple):
            return tuple(walk(x) for x in v)
        return v
    return walk(value)


def _inside(value, match) -> list:
    """Every item inside value (lists, tuples, dict values) for which match(item) holds, in order."""
    if match(value):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _inside(v, match)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _inside(v, match)]
    return []


def tensors(value) -> list:
    """Every torch tensor inside value, in order (the order of map_tensors)."""
    return _inside(value, _is_tensor)


def generators(value) -> list:
    """Every numpy random Generator inside value, in order."""
    return _inside(value, lambda v: isinstance(v, np.random.Generator))


def rng_state() -> dict:
    """The global random states of numpy and (if loaded) torch, as values."""
    torch = _torch()
    return {"numpy": np.random.get_state(), "torch": torch.get_rng_state() if torch is not None else None}


def set_rng(state: dict):
    """Set the global random states rng_state() returned (torch's only where torch is loaded or sent)."""
    if state.get("numpy") is not None:
        np.random.set_state(tuple(state["numpy"]))
    if state.get("torch") is not None:
        import torch
        torch.set_rng_state(state["torch"])
