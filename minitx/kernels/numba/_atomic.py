"""The few machine operations the two-core launch (pair.py) needs and Numba lacks, as
llvmlite intrinsics: atomic loads, stores and read-modify-writes on an int32 array's
element, a spin-wait hint, Linux's futex, and a call through a function's address.

Every atomic here is sequentially consistent: the launch's handshake (pair.py) is a
Dekker-style pair of flags, which acquire/release alone does not order.
"""
import platform

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I32, _I64 = ir.IntType(32), ir.IntType(64)

# Linux's futex system call number and operations on this machine (x86-64 only: the
# numbers differ on other architectures, where pair.py stays off).
SYS_FUTEX = 202
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
SUPPORTED = platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def _element(context, builder, aryty, ary, idx):
    """A pointer to ary[idx] (no bounds check: the indices are pair.py's constants)."""
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [idx])


def _int32_array(arr):
    return isinstance(arr, types.Array) and arr.dtype == types.int32 and arr.ndim == 1


@intrinsic
def load(typingctx, arr, idx):
    """arr[idx], an atomic load."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_element(context, builder, sig.args[0], *args), "seq_cst", 4)
    return types.int32(arr, types.intp), codegen


@intrinsic
def store(typingctx, arr, idx, val):
    """arr[idx] = val, an atomic store."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[2], sig.args[2], types.int32)
        builder.store_atomic(value, _element(context, builder, sig.args[0], args[0], args[1]),
                             "seq_cst", 4)
        return context.get_dummy_value()
    return types.void(arr, types.intp, types.int32), codegen


@intrinsic
def compare_exchange(typingctx, arr, idx, expected, new):
    """If arr[idx] == expected, set it to new: True if it did, atomically."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element(context, builder, sig.args[0], args[0], args[1])
        old = context.cast(builder, args[2], sig.args[2], types.int32)
        new_ = context.cast(builder, args[3], sig.args[3], types.int32)
        pair = builder.cmpxchg(ptr, old, new_, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)
    return types.boolean(arr, types.intp, types.int32, types.int32), codegen


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """arr[idx] += val atomically; the value before the add."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element(context, builder, sig.args[0], args[0], args[1])
        value = context.cast(builder, args[2], sig.args[2], types.int32)
        return builder.atomic_rmw("add", ptr, value, "seq_cst")
    return types.int32(arr, types.intp, types.int32), codegen


@intrinsic
def pause(typingctx):
    """The spin-wait hint (x86 PAUSE): a spinning thread yields its core's shared
    resources and saves power. About 25 ns on Zen 5."""
    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.VoidType(), [])
        builder.call(builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=fnty), [])
        return context.get_dummy_value()
    return types.void(), codegen


def _syscall(builder, *args):
    """syscall(args...) through the C library's symbol: resolved by name when the code
    is loaded, so the function stays cacheable (a ctypes pointer would not)."""
    fnty = ir.FunctionType(_I64, [_I64], var_arg=True)
    fn = builder.module.globals.get("syscall") or ir.Function(builder.module, fnty, "syscall")
    return builder.call(fn, list(args))


@intrinsic
def futex_wait(typingctx, arr, idx, expected):
    """Sleep while arr[idx] == expected, until futex_wake (or a spurious wake-up)."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        ptr = builder.ptrtoint(_element(context, builder, sig.args[0], args[0], args[1]), _I64)
        expected_ = builder.sext(context.cast(builder, args[2], sig.args[2], types.int32), _I64)
        _syscall(builder, ir.Constant(_I64, SYS_FUTEX), ptr,
                 ir.Constant(_I64, FUTEX_WAIT_PRIVATE), expected_, ir.Constant(_I64, 0))
        return context.get_dummy_value()
    return types.void(arr, types.intp, types.int32), codegen


@intrinsic
def futex_wake(typingctx, arr, idx):
    """Wake one thread sleeping in futex_wait on arr[idx]."""
    if not _int32_array(arr):
        return None

    def codegen(context, builder, sig, args):
        ptr = builder.ptrtoint(_element(context, builder, sig.args[0], *args), _I64)
        _syscall(builder, ir.Constant(_I64, SYS_FUTEX), ptr,
                 ir.Constant(_I64, FUTEX_WAKE_PRIVATE), ir.Constant(_I64, 1))
        return context.get_dummy_value()
    return types.void(arr, types.intp), codegen


@intrinsic
def call_block(typingctx, address, job, blk):
    """Call the compiled `void block(int64 *job, int64 blk, T *dtype)` at address
    (pair.block_kernel), with a null `dtype`: it only carries the block's number type."""
    if not (isinstance(job, types.Array) and job.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.VoidType(), [_I64.as_pointer(), _I64, _I64.as_pointer()])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        data = context.make_array(sig.args[1])(context, builder, args[1]).data
        builder.call(fn, [data, context.cast(builder, args[2], sig.args[2], types.int64),
                          ir.Constant(_I64.as_pointer(), None)])
        return context.get_dummy_value()
    return types.void(types.int64, job, types.int64), codegen


@intrinsic
def pointer(typingctx, address, offset, dtype):
    """A pointer to the offset-th number at the int64 address; dtype names the number type:
    np.float32, np.float64, np.int64, np.bool_, or a pointer to one (a block function's
    `dtype`)."""
    if isinstance(dtype, types.NumberClass):
        ty = dtype.instance_type
    elif isinstance(dtype, types.CPointer):
        ty = dtype.dtype
    else:
        return None

    def codegen(context, builder, sig, args):
        base = builder.inttoptr(args[0], context.get_data_type(ty).as_pointer())
        return builder.gep(base, [context.cast(builder, args[1], sig.args[1], types.int64)])
    return types.CPointer(ty)(types.int64, offset, dtype), codegen


@intrinsic
def address_of(typingctx, arr):
    """The address of an array's first element, as an int64."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return builder.ptrtoint(context.make_array(sig.args[0])(context, builder, args[0]).data, _I64)
    return types.int64(arr), codegen


@intrinsic
def float_from_bits(typingctx, bits):
    """The float64 whose bits are the int64 `bits` (a float carried in pair.py's job)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def bits_of_float(typingctx, value):
    """The int64 with the bits of the float64 `value`."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(context.cast(builder, args[0], sig.args[0], types.float64), _I64)
    return types.int64(value), codegen
