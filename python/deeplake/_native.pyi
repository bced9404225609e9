"""Type stubs of the native core (``deeplake._native``). Users call it
through ``deeplake.Client`` and ``deeplake.Dataset``."""

from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

__version__: str

Progress = Callable[[int, int], Any]

class NativeClient:
    """The engine behind ``deeplake.Client``: an embedded workspace."""

    def __init__(self, token: Optional[str] = None, workspace_id: Optional[str] = None, api_url: Optional[str] = None) -> None: ...
    @property
    def org_id(self) -> str: ...
    @property
    def workspace_id(self) -> str: ...
    @property
    def root_path(self) -> str: ...
    def dataset_path(self, table: str) -> str: ...
    def list_tables(self) -> List[str]: ...
    def drop_table(self, table: str, if_exists: bool) -> None: ...
    def open_table(self, table: str) -> "NativeDataset": ...
    def create_table(self, table: str, schema: List[Tuple[str, str]]) -> None: ...
    def describe_table(self, table: str) -> Tuple[List[Tuple[str, str, str]], int, int]: ...
    @property
    def is_remote(self) -> bool: ...
    def ingest(
        self,
        table: str,
        columns: List[Tuple[str, Any]],
        schema: Optional[List[Tuple[str, str]]] = None,
        on_progress: Optional[Progress] = None,
        chunk_size: int = 1000,
        chunk_overlap: int = 200,
        mode: str = "create",
        workers: int = 4,
        pdf_dpi: int = 300,
    ) -> Dict[str, Any]:
        """Columns (lists, numpy or pyarrow arrays) into a table, or a
        Hugging Face dataset when a column is named ``_huggingface``; returns
        ``{"table_name", "row_count", "dataset_path"}``."""
    def ingest_format(
        self,
        table: str,
        format: Any,
        schema: Optional[List[Tuple[str, str]]] = None,
        on_progress: Optional[Progress] = None,
        chunk_size: int = 1000,
        chunk_overlap: int = 200,
        mode: str = "create",
        coco: Optional[Tuple[str, str, str, int]] = None,
    ) -> Dict[str, Any]:
        """A format object's ``normalize()`` batches, or COCO panoptic when
        ``coco`` is ``(images_dir, masks_dir, annotations, batch_size)``."""
    def query(
        self, sql: str, params: Optional[Sequence[Any]] = None, timeout: Optional[float] = None
    ) -> List[Dict[str, Any]]: ...
    def query_arrow(
        self, sql: str, params: Optional[Sequence[Any]] = None, timeout: Optional[float] = None
    ) -> Tuple[Any, List[Any]]:
        """``(pyarrow.Schema, [pyarrow.RecordBatch])``."""
    def select_sql(
        self,
        table: str,
        columns: Optional[List[str]],
        conditions: List[Tuple[str, List[Any]]],
        order_by: List[str],
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> Tuple[str, List[Any]]: ...

class NativeDataset:
    """A table opened at one version."""

    def __len__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    def schema(self) -> List[Tuple[str, str]]: ...
    def versions(self) -> List[int]: ...
    def checkout(self, version: int) -> "NativeDataset": ...
    def refresh(self) -> bool: ...
    def query_arrow(self, sql: str, params: Optional[Sequence[Any]] = None) -> Tuple[Any, List[Any]]:
        """Read-only SQL with this table at this dataset's version:
        ``(pyarrow.Schema, [pyarrow.RecordBatch])``."""
    def row_positions(self, sql: str, params: Optional[Sequence[Any]] = None) -> Optional[Any]:
        """Positions (a ``pyarrow.UInt64Array``) of the rows a ``SELECT *``
        selection picks at this version; ``None`` for any other statement."""
    def snapshot(self) -> "NativeDataset":
        """This dataset at its current version, unaffected by ``refresh()``."""
    def take(self, rows: List[int], columns: Optional[List[str]] = None) -> Any:
        """A ``pyarrow.RecordBatch`` of the rows, in the order given."""
    def batches(self, size: int, drop_last: bool = False, columns: Optional[List[str]] = None) -> "NativeBatches": ...

class NativeBatches(Iterator[Any]):
    def __iter__(self) -> "NativeBatches": ...
    def __next__(self) -> Any: ...

class NativeCocoBatches(Iterator[Dict[str, List[Any]]]):
    """COCO panoptic batches as ``dict[str, list]`` (JSON columns as text)."""

    def __init__(self, images_dir: str, masks_dir: str, annotations: str, batch_size: int = 100) -> None: ...
    def __iter__(self) -> "NativeCocoBatches": ...
    def __next__(self) -> Dict[str, List[Any]]: ...
    @property
    def skipped(self) -> int: ...

def decode_images(array: Any) -> List[Optional[Tuple[bytearray, int, int, int]]]:
    """Decodes a pyarrow binary array of encoded images: ``(pixels, height,
    width, channels)`` per image, ``None`` for a null."""

def serve(root: str, http: str = "127.0.0.1:8080", jwt_secret: Optional[str] = None, auto_workspaces: bool = True,
          max_body_mb: int = 256, max_query_secs: int = 300) -> None: ...
def create_token(org: Optional[str] = None, user: Optional[str] = None, name: Optional[str] = None,
                 ttl: int = 2592000, jwt_secret: Optional[str] = None) -> str: ...
