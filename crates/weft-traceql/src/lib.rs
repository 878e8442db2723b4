//! weft-traceql
