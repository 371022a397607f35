"""Is this query one read-only SELECT? Checked by parsing it as the database's own dialect.

The query is read with sqlglot in the dialect of the database it goes to, so quoting is read the way
that database reads it (PostgreSQL's ``$$...$$`` and ``E'...'`` strings, MySQL's backslashes and
backticks, SQL Server's ``[names]``, nested comments where the database nests them). Then four
checks, each enough on its own for the cases it covers:

1. exactly one statement, and it starts with SELECT or WITH;
2. the parsed statement is a query and holds nothing that writes, locks or changes the session
   (INSERT, UPDATE, DELETE, MERGE, DDL, ``SELECT ... INTO``, ``FOR UPDATE``, SET, COMMIT ...);
3. no keyword that changes data or the database appears outside quotes (the words in
   :data:`FORBIDDEN`; a column of such a name can be written in quotes);
4. no function with side effects is called (:data:`SIDE_EFFECT_FUNCTIONS`: ending other sessions,
   reading or writing the server's files, other connections, sleeping, sequences, settings ...).

A database still runs functions that its users defined, so the connection should use a database
role that may only read (docs/connectors.md); the connector also runs every query in a read-only
transaction where the database has one. sqlglot is imported on the first check only (importing
``connectors`` stays light).
"""

from __future__ import annotations

from typing import Any

from automl.errors import DataError

MAX_QUERY_CHARS = 100_000


def _words(*parts: str) -> frozenset[str]:
    return frozenset(" ".join(parts).split())


FORBIDDEN = _words(
    "insert update delete merge upsert drop alter create truncate grant revoke copy call exec "
    "execute attach detach pragma vacuum reindex into begin commit rollback savepoint set lock "
    "unlock listen notify prepare deallocate handler kill shutdown",
)

# Functions that act on the server or the world rather than compute a value.
SIDE_EFFECT_FUNCTIONS = _words(
    # PostgreSQL: other sessions, the server, its settings and files, sequences, locks, waits
    "pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_promote "
    "pg_log_backend_memory_contexts pg_switch_wal pg_switch_xlog pg_create_restore_point "
    "pg_start_backup pg_stop_backup pg_import_system_collations pg_notify set_config "
    "nextval setval lo_import lo_export lo_unlink lo_create lo_creat lo_from_bytea lo_put "
    "lo_truncate lo_open lowrite lo_get loread pg_stat_file pg_logdir_ls dblink "
    "query_to_xml query_to_xml_and_xmlschema query_to_xmlschema cursor_to_xml "
    "cursor_to_xmlschema database_to_xml database_to_xml_and_xmlschema txid_current "
    "pg_current_xact_id",
    # MySQL / MariaDB
    "sleep benchmark load_file get_lock release_lock release_all_locks master_pos_wait "
    "source_pos_wait wait_for_executed_gtid_set sys_exec sys_eval",
    # SQLite
    "load_extension fts3_tokenizer writefile readfile edit",
    # SQL Server
    "openrowset opendatasource openquery xp_cmdshell xp_dirtree xp_fileexist xp_regread",
)
SIDE_EFFECT_PREFIXES = (
    "pg_sleep",
    "pg_advisory",
    "pg_try_advisory",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "pg_ls_",
    "pg_read_",
    "pg_file_",
    "pg_replication_",
    "pg_logical_",
    "pg_create_",
    "pg_drop_",
    "pg_copy_",
    "pg_wal_",
    "pg_xlog_",
    "pg_backup_",
    "dblink_",
    "system$",  # Snowflake's system functions (cancel queries, abort sessions ...)
)
# Oracle packages that reach the network, files, other sessions or run SQL text
SIDE_EFFECT_PACKAGES = _words(
    "utl_http utl_tcp utl_smtp utl_file utl_inaddr utl_mail dbms_pipe dbms_lock dbms_java "
    "dbms_scheduler dbms_sql dbms_xmlgen dbms_xmlquery dbms_ldap httpuritype",
)

# SQLAlchemy backend name -> sqlglot dialect (None: sqlglot's generic SQL)
DIALECTS = {
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "oracle": "oracle",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "awsathena": "athena",
    "duckdb": "duckdb",
    "bigquery": "bigquery",
    "trino": "trino",
    "presto": "presto",
    "databricks": "databricks",
    "hive": "hive",
    "clickhouse": "clickhouse",
    "teradata": "teradata",
}
_LABELS = {"postgres": "PostgreSQL", "tsql": "SQL Server", "mysql": "MySQL", "sqlite": "SQLite"}


def _is_side_effect(name: str) -> bool:
    low = name.lower()
    return low in SIDE_EFFECT_FUNCTIONS or low.startswith(SIDE_EFFECT_PREFIXES)


def _refuse(what: str, hint: str) -> DataError:
    return DataError(
        f"Only read-only SELECT queries can be imported; this query {what}, which could change "
        f"data or the database. {hint}"
    )


def _writes(statement: Any) -> str | None:
    """The first part of the parsed statement that writes, locks or changes the session."""
    from sqlglot import exp

    named = {
        "Insert": "INSERT",
        "Update": "UPDATE",
        "Delete": "DELETE",
        "Merge": "MERGE",
        "Create": "CREATE",
        "Drop": "DROP",
        "Alter": "ALTER",
        "TruncateTable": "TRUNCATE",
        "Into": "INTO (a new table)",
        "Lock": "FOR UPDATE / FOR SHARE (row locks)",
        "Copy": "COPY",
        "Command": "a database command",
        "Set": "SET",
        "Pragma": "PRAGMA",
        "Transaction": "BEGIN",
        "Commit": "COMMIT",
        "Rollback": "ROLLBACK",
        "Grant": "GRANT",
        "Revoke": "REVOKE",
        "Use": "USE",
        "LoadData": "LOAD DATA",
        "Attach": "ATTACH",
        "Detach": "DETACH",
        "Kill": "KILL",
        "Execute": "EXECUTE",
        "Analyze": "ANALYZE",
        "Cache": "CACHE",
        "Uncache": "UNCACHE",
        "Refresh": "REFRESH",
        "NextValueFor": "NEXT VALUE FOR (a sequence)",
    }
    kinds = tuple(getattr(exp, n) for n in named if hasattr(exp, n))
    for node in statement.walk():
        if isinstance(node, kinds):
            return named.get(type(node).__name__, "a command")
    return None


def _side_effects(statement: Any) -> list[str]:
    """Names of side-effect functions (and Oracle packages) the statement calls."""
    from sqlglot import exp

    found: list[str] = []
    for node in statement.walk():
        if isinstance(node, exp.Anonymous):
            name = str(node.name)
        elif isinstance(node, exp.Func):
            name = node.sql_name()
        elif isinstance(node, exp.Identifier):
            name = str(node.this)
            if name.lower() in SIDE_EFFECT_PACKAGES:
                found.append(name.lower())
            continue
        else:
            continue
        if _is_side_effect(name):
            found.append(name.lower())
    return sorted(set(found))


def _syntax_error(err: Exception, label: str) -> DataError:
    details = getattr(err, "errors", None) or [{}]
    first = details[0] if isinstance(details[0], dict) else {}
    line, col = first.get("line"), first.get("col")
    near = str(first.get("highlight") or "").strip()[:40]
    where = f" near line {line}, column {col}" if line and col else ""
    at = f" (at '{near}')" if near else ""
    return DataError(
        f"Easel could not read this query as {label} SQL{where}{at}. Check the syntax there (a "
        "missing bracket, comma or keyword) and try again."
    )


def check_select(query: str, backend: str | None = None) -> str:
    """``query`` without a trailing ';' if it is one read-only SELECT for the database
    ``backend`` (a SQLAlchemy backend name such as "postgresql"; None: generic SQL), else a
    :class:`~automl.errors.DataError` saying why."""
    if not isinstance(query, str):
        raise DataError("The query must be text: one SELECT statement.")
    text = query.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise DataError(
            f"The query is {len(text):,} characters long; at most {MAX_QUERY_CHARS:,} are "
            "accepted. Shorten it, or save it as a view in the database and import the view."
        )
    import sqlglot
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ParseError, SqlglotError, TokenError
    from sqlglot.tokens import TokenType

    name = DIALECTS.get((backend or "").lower())
    label = _LABELS.get(name or "", name.capitalize() if name else "standard")
    dialect = Dialect.get_or_raise(name)
    try:
        tokens = dialect.tokenize(text)
    except TokenError:
        raise DataError(
            "The query has a text value, quoted name or comment that is never closed (a quote or "
            "'/*' without its end). Close it and try again."
        ) from None
    except (SqlglotError, RecursionError, ValueError, IndexError, KeyError, TypeError):
        raise DataError(
            f"Easel could not read this query as {label} SQL. Check its syntax and try again."
        ) from None
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        text = text[: tokens[-1].start].rstrip()
        tokens = tokens[:-1]
    if not tokens:
        raise DataError("The query is empty. Write one SELECT statement, e.g. SELECT * FROM sales.")
    if any(t.token_type == TokenType.SEMICOLON for t in tokens):
        raise DataError(
            "The query holds more than one statement (a ';' in the middle). Easel runs exactly one "
            "SELECT statement: remove everything after the first ';'."
        )
    if tokens[0].token_type not in (TokenType.SELECT, TokenType.WITH):
        first = tokens[0].text.upper()[:20]
        raise DataError(
            f"Only read-only SELECT queries can be imported; this query starts with {first}. "
            "To import a whole table, pick the table instead of writing a query."
        )
    quoted = {
        getattr(TokenType, n)
        for n in (
            "STRING",
            "NATIONAL_STRING",
            "RAW_STRING",
            "HEREDOC_STRING",
            "BIT_STRING",
            "HEX_STRING",
            "BYTE_STRING",
            "UNICODE_STRING",
            "IDENTIFIER",
        )
        if hasattr(TokenType, n)
    }
    bad = sorted({t.text.lower() for t in tokens if t.token_type not in quoted} & FORBIDDEN)
    if bad:
        raise _refuse(
            f"contains {', '.join(w.upper() for w in bad)}",
            "Remove it (a column of that name can be written in double quotes).",
        )
    # calls seen in the tokens (a name, quoted or not, before '('), before any parsing
    strings = quoted - {TokenType.IDENTIFIER}
    calls = {
        t.text.lower()
        for t, after in zip(tokens, tokens[1:], strict=False)
        if after.token_type == TokenType.L_PAREN
        and t.token_type not in strings
        and _is_side_effect(t.text)
    }
    calls |= {
        t.text.lower()
        for t in tokens
        if t.token_type not in strings and t.text.lower() in SIDE_EFFECT_PACKAGES
    }
    if calls:
        raise _calls(sorted(calls))
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as err:
        raise _syntax_error(err, label) from None
    except (SqlglotError, RecursionError, ValueError, TypeError, IndexError, KeyError):
        raise DataError(
            f"Easel could not read this query as {label} SQL. Check its syntax and try again."
        ) from None
    if len(statements) != 1:
        raise DataError(
            "The query holds more than one statement. Easel runs exactly one SELECT statement."
        )
    from sqlglot import exp

    query_kinds = tuple(
        getattr(exp, n) for n in ("Select", "SetOperation", "Union") if hasattr(exp, n)
    )
    statement = statements[0]
    if not isinstance(statement, query_kinds):
        raise _refuse("is not a plain SELECT", "Write one SELECT statement.")
    writes = _writes(statement)
    if writes:
        raise _refuse(f"contains {writes}", "Remove it.")
    found = _side_effects(statement)
    if found:
        raise _calls(found)
    return text


def _calls(names: list[str]) -> DataError:
    return DataError(
        f"Only read-only SELECT queries can be imported; this query calls {', '.join(names)}, "
        "which acts on the database server (other sessions, files, settings, sequences or "
        "waits) instead of reading data. Remove it."
    )
