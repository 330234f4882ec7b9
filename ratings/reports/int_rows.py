"""A queryset's integer rows as one numpy array, without the ORM's per-row machinery: the
read under every report (a few integers per judgment, many judgments)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from django.db import connections
from django.db.models import QuerySet

from ratings.analysis import IntArray

#: Rows fetched at a time where the database has no binary COPY.
FETCH_ROWS = 50_000


def int_rows(qs: QuerySet[Any, Any], columns: int) -> IntArray:
    """The queryset's rows (integers only, no NULLs) as one (rows, columns) int64 array.

    The SQL comes from the ORM; the rows skip its per-row machinery. On PostgreSQL they come
    as one binary COPY read straight into numpy (no Python object per value); elsewhere as
    plain tuples, FETCH_ROWS at a time.
    """
    sql, params = qs.query.sql_with_params()
    connection = connections[qs.db]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.BytesIO()
            query = cursor.mogrify(sql, params)
            cursor.copy_expert(b"COPY (" + query + b") TO STDOUT WITH (FORMAT binary)", buffer)
            return binary_copy_ints(buffer.getbuffer(), columns)
        cursor.execute(sql, params)
        parts = [np.zeros((0, columns), dtype=np.int64)]
        while rows := cursor.fetchmany(FETCH_ROWS):
            parts.append(np.array(rows, dtype=np.int64).reshape(-1, columns))
    return np.concatenate(parts)


#: PostgreSQL's binary COPY: signature, flags, header extension length; -1 ends the data.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def binary_copy_ints(data: memoryview, columns: int) -> IntArray:
    """Parse binary COPY output whose every value is a non-NULL 2-, 4- or 8-byte integer.

    Each row is a field count then, per field, its byte length and its big-endian bytes. With
    no NULLs every row has the first row's layout, so the rows are one numpy record array.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    if bytes(raw[:11]) != _COPY_SIGNATURE:
        raise ValueError("Not PostgreSQL binary COPY output.")
    start = 19 + int(np.frombuffer(data[15:19], dtype=">i4")[0])
    body = raw[start:-2]  # the trailer: field count -1
    if body.size == 0:
        return np.zeros((0, columns), dtype=np.int64)
    fields: list[tuple[str, str]] = [("n", ">i2")]
    at = start + 2
    for k in range(columns):
        width = int(np.frombuffer(data[at : at + 4], dtype=">i4")[0])
        if width not in (2, 4, 8):
            raise ValueError(f"Column {k} is not a non-NULL integer (width {width}).")
        fields += [(f"w{k}", ">i4"), (f"v{k}", f">i{width}")]
        at += 4 + width
    dtype = np.dtype(fields)
    if body.size % dtype.itemsize:
        raise ValueError("Rows of different layouts: a NULL or a non-integer value.")
    rows = body.view(dtype)
    if np.any(rows["n"] != columns) or any(
        np.any(rows[f"w{k}"] != dtype[f"v{k}"].itemsize) for k in range(columns)
    ):
        raise ValueError("Rows of different layouts: a NULL or a non-integer value.")
    return np.stack([rows[f"v{k}"].astype(np.int64) for k in range(columns)], axis=1)
