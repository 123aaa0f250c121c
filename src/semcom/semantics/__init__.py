"""semcom.semantics: the application-agnostic semantic core.

prt (importance-driven resilience): semantic frames and symbols, code-block grants, packing into
code blocks, the six roles E, P, C, C^-1, R, Syn, and the allocators FFH, SIDH, CIDH and optimal.
The keypoint video-conferencing application's roles live in :mod:`semcom.semantics.keypoint`
(imported on demand: it needs mediapipe's FaceMesh at run time).
"""

from semcom.semantics.allocation import (  # noqa: F401
    CBLER_GRID,
    AllocatingEncoder,
    Allocation,
    Allocator,
    CyclicImportance,
    FirstFit,
    OptimalAllocator,
    StrictImportance,
    expected_objective,
    get_allocator,
    objective,
    oracle_optimal,
)
from semcom.semantics.symbols import (  # noqa: F401
    CodeBlockDecoder,
    CodeBlockGrant,
    EncodedFrame,
    ErrorConcealer,
    ImportanceFunction,
    ReceivedFrame,
    SemanticChannelDecoder,
    SemanticChannelEncoder,
    SemanticExtractor,
    SemanticFrame,
    SemanticPipeline,
    SemanticSymbol,
    Synthesizer,
    normalise_importance,
    pack_code_blocks,
    unpack_code_blocks,
)
