"""The SQLite-to-PostgreSQL respelling of the engine's statements (engine._sql)."""

from __future__ import annotations

import pytest

from engine._sql import numbered_params, to_postgres


@pytest.mark.parametrize(("sqlite", "postgresql"), [
    ("SELECT * FROM t WHERE a = ? AND b = :b", "SELECT * FROM t WHERE a = %s AND b = %(b)s"),
    ("SELECT ?1 || ?2", "SELECT %(_1)s || %(_2)s"),
    ("SELECT '50%' WHERE x LIKE ?", "SELECT '50%%' WHERE x ILIKE %s"),
    ("SELECT 'it''s ? :not' FROM t", "SELECT 'it''s ? :not' FROM t"),
    ("WHERE a IS NOT ? AND b IS ? AND c IS NOT NULL AND d IS NULL",
     "WHERE a IS DISTINCT FROM %s AND b IS NOT DISTINCT FROM %s AND c IS NOT NULL "
     "AND d IS NULL"),
    ("WHERE ? IS NULL OR a = ?", "WHERE CAST(%s AS text) IS NULL OR a = %s"),
    ("CASE WHEN ? THEN 1 END", "CASE WHEN %s <> 0 THEN 1 END"),
    ("SELECT MAX(a, b), MAX(c), MIN(d, 1)", "SELECT GREATEST(a, b), MAX(c), LEAST(d, 1)"),
    ("SELECT json_extract(doc, '$.a'), json_extract(doc, '$.a.b')",
     "SELECT (CAST(doc AS jsonb) ->> 'a'), (CAST(doc AS jsonb) #>> '{a,b}')"),
    ("SELECT json_extract(u, '$.' || :e)", "SELECT (CAST(u AS jsonb) ->> (%(e)s))"),
    ("FROM i, json_each(i.doc, '$.lines') l",
     "FROM i, jsonb_array_elements((CAST(i.doc AS jsonb) -> 'lines')) l"),
    ("SELECT json_group_array(json_array(a, b))",
     "SELECT COALESCE(CAST(json_agg(json_build_array(a, b)) AS text), '[]')"),
    ("SELECT a || char(10) || b", "SELECT a || chr(10) || b"),
    ("SELECT instr(a, ':')", "SELECT strpos(a, ':')"),
    ("SELECT k FROM (SELECT 1 AS k) ORDER BY k",
     "SELECT k FROM(SELECT 1 AS k) AS _subquery1 ORDER BY k"),
    ("SELECT k FROM (SELECT 1 AS k) named", "SELECT k FROM(SELECT 1 AS k) named"),
    ("SELECT COUNT(*) FROM (SELECT 1)", "SELECT COUNT(*) FROM(SELECT 1) AS _subquery1"),
])
def test_statements_are_respelt(sqlite: str, postgresql: str) -> None:
    assert to_postgres(sqlite) == postgresql


def test_an_upserts_bare_columns_are_the_existing_rows() -> None:
    translated = to_postgres(
        "INSERT INTO g (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET "
        "n = n + excluded.n, at = COALESCE(at, excluded.at) WHERE version < excluded.version "
        "RETURNING n")
    assert translated.endswith(
        "DO UPDATE SET n = g.n + excluded.n, at = COALESCE(g.at, excluded.at) "
        "WHERE g.version < excluded.version RETURNING n")


def test_an_upsert_through_an_alias_qualifies_by_the_alias() -> None:
    assert "SET n = c.n + 1" in to_postgres(
        "INSERT INTO counts AS c (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1")


def test_a_subquery_in_an_upsert_keeps_its_own_columns() -> None:
    assert "(SELECT MAX(version) FROM other)" in to_postgres(
        "INSERT INTO t (k) VALUES (?) ON CONFLICT (k) DO UPDATE SET "
        "v = (SELECT MAX(version) FROM other)")


def test_numbered_parameters_are_named_as_their_translation_names_them() -> None:
    assert numbered_params(("a", 2)) == {"_1": "a", "_2": 2}


def test_an_untranslatable_json_path_is_refused() -> None:
    with pytest.raises(ValueError, match="json path"):
        to_postgres("SELECT json_extract(doc, '$[0]')")
