// Package export writes flowstat's Parquet tables in the formats of tools
// without a Parquet reader: CSV and NDJSON for any table, with the
// table's own column names, and Zeek's conn.log for flows.parquet, so
// that zeek-cut and the scripts written for Zeek read flowstat's flows.
// It streams row group by row group: memory does not grow with the table.
//
// Imports: nothing of flowstat; parquet-go.
package export
