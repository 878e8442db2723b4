//! The WAL record format of ingested batches (see docs/format/wal-records.md).

use weft_core::TenantId;

/// Record kinds. New signals get new kinds; replay skips kinds it does not know with a
/// warning, so a downgrade never fails to start.
pub const KIND_OTLP_TRACES: u8 = 1;

/// A decoded WAL record; the body borrows from the payload.
#[derive(Debug, PartialEq)]
pub enum WalRecord<'a> {
    /// `body` is a protobuf `ExportTraceServiceRequest`.
    Traces { tenant: TenantId, body: &'a [u8] },
    /// A kind this version does not know.
    Unknown(u8),
}

/// Encodes a trace batch: kind, tenant length (u16 LE), tenant, protobuf request.
pub fn encode_traces(tenant: &TenantId, body: &[u8]) -> Vec<u8> {
    let tenant = tenant.as_str().as_bytes();
    debug_assert!(
        tenant.len() <= u16::MAX as usize,
        "tenant IDs are at most 150 bytes"
    );
    let mut out = Vec::with_capacity(3 + tenant.len() + body.len());
    out.push(KIND_OTLP_TRACES);
    out.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    out.extend_from_slice(tenant);
    out.extend_from_slice(body);
    out
}

/// Decodes a record written by [`encode_traces`]; the error names what was wrong. The body
/// itself is checked by the store's parser when it is applied.
pub fn decode(payload: &[u8]) -> Result<WalRecord<'_>, String> {
    let (&kind, rest) = payload.split_first().ok_or("empty WAL record")?;
    if kind != KIND_OTLP_TRACES {
        return Ok(WalRecord::Unknown(kind));
    }
    if rest.len() < 2 {
        return Err("WAL record too short for the tenant length".into());
    }
    let tenant_len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    if rest.len() < tenant_len {
        return Err(format!(
            "WAL record tenant length {tenant_len} exceeds the {} bytes left",
            rest.len()
        ));
    }
    let (tenant, body) = rest.split_at(tenant_len);
    let tenant =
        std::str::from_utf8(tenant).map_err(|e| format!("WAL record tenant is not UTF-8: {e}"))?;
    let tenant = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    Ok(WalRecord::Traces { tenant, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clear_errors() {
        let tenant = TenantId::parse("t-1").unwrap();
        let bytes = encode_traces(&tenant, b"\x0a\x00");
        assert_eq!(
            decode(&bytes).unwrap(),
            WalRecord::Traces {
                tenant,
                body: b"\x0a\x00"
            }
        );
        assert_eq!(decode(&[9, 1, 2]).unwrap(), WalRecord::Unknown(9));
        assert!(decode(&[]).unwrap_err().contains("empty"));
        assert!(decode(&[1, 50, 0, b'a']).unwrap_err().contains("exceeds"));
    }
}
