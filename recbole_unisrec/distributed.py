"""Multi-process pre-training with PyTorch's own engine: process groups, ranks and a gather with gradients.

``torchrun --nproc_per_node N run_pretrain.py ...`` (or torchrun's multi-node flags) starts one
process per rank with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` set. :func:`init_from_env` joins the process group (NCCL on GPUs, gloo on CPU)
before the RecBole ``Config`` is made; :func:`init_device` then fills the config's ``single_spec``,
``local_rank``, ``world_size`` and ``device`` from the group instead of RecBole's own
``_init_device``, which hard-codes NCCL, CUDA and a ``tcp://ip:port`` rendezvous.

:func:`gather_with_grad` gathers each rank's rows (e.g. the in-batch candidates) into one global
tensor. Its backward sums every rank's gradient with respect to the gathered tensor
(``all_reduce``) and hands each rank the slice of its own rows, so a loss computed on every rank
from the global tensor back-propagates into the rank that produced each row. With every rank's
loss scaled by ``world_size / global count`` the gradients that ``DistributedDataParallel``
averages are exactly those of one process over the whole global batch.

Every function here is a no-op (or the identity) in a single process.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from torch.autograd.function import FunctionCtx

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def launched_by_torchrun() -> bool:
    """True when torchrun (or an equivalent launcher) started this process as one of several."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES) and int(os.environ["WORLD_SIZE"]) > 1


def init_from_env(use_gpu: bool = True, timeout_minutes: float = 30.0) -> bool:
    """Join the process group described by torchrun's environment; False when not launched so.

    NCCL when CUDA is usable (each process on ``cuda:LOCAL_RANK``), gloo otherwise.
    """
    if not launched_by_torchrun():
        return False
    if dist.is_initialized():
        return True
    local_rank = int(os.environ["LOCAL_RANK"])
    cuda = use_gpu and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://",
                            timeout=timedelta(minutes=timeout_minutes))
    return True


def init_device(config: dict[str, Any]) -> bool:
    """Set a RecBole config's device keys from an initialised process group; False if there is none.

    Called from :meth:`recbole_unisrec.config.Config._init_device`; the single-process case stays
    RecBole's own. Ranks other than 0 log errors only and show no progress bar.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return False
    global_rank, size = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", global_rank))
    cuda = dist.get_backend() == "nccl"
    config["single_spec"] = size == 1
    config["local_rank"] = local_rank
    config["world_size"] = size
    config["offset"] = global_rank - local_rank
    config["nproc"] = int(os.environ.get("LOCAL_WORLD_SIZE", size))
    config["device"] = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if global_rank != 0:
        config["state"] = "error"
        config["show_progress"] = False
        config["verbose"] = False
    return True


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum over ranks (a new tensor; the input is untouched)."""
    tensor = tensor.detach().clone()
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def gather_sizes(count: int, device: torch.device | str = "cpu") -> list[int]:
    """Every rank's ``count``, in rank order."""
    if not is_distributed():
        return [int(count)]
    local = torch.tensor([int(count)], dtype=torch.long, device=device)
    parts = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return [int(part.item()) for part in parts]


def _gather_padded(tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """All ranks' ``tensor`` (rows ``sizes[r]`` on rank ``r``) concatenated in rank order."""
    longest = max(sizes)
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def gather(tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """All ranks' rows, without gradients (e.g. item ids)."""
    if len(sizes) == 1:
        return tensor
    return _gather_padded(tensor.detach(), sizes)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        ctx.sizes = sizes
        ctx.rank = dist.get_rank()
        return _gather_padded(tensor, sizes)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's loss may depend on every row
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start: start + ctx.sizes[ctx.rank]], None


def gather_with_grad(tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """All ranks' rows in rank order; gradients flow back to the rank each row came from."""
    if len(sizes) == 1:
        return tensor
    return _GatherWithGrad.apply(tensor, sizes)


def all_gather_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """One same-shaped tensor per rank (e.g. RNG states), in rank order."""
    if not is_distributed():
        return [tensor]
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return parts
