//! Chunked binary storage in Postgres: uploaded inputs and result zips.

use sqlx::{PgConnection, Row};

use super::{BlobId, Result, Store};

/// Size of one stored chunk: large enough for few rows, small enough to stream.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Writes `data` as a new blob inside the caller's transaction.
pub async fn blob_write(conn: &mut PgConnection, data: &[u8]) -> Result<BlobId> {
    let id: BlobId = sqlx::query_scalar(include_str!("../../sql/blobs/create.sql"))
        .bind(data.len() as i64)
        .fetch_one(&mut *conn)
        .await?;
    for (seq, chunk) in data.chunks(CHUNK_BYTES).enumerate() {
        sqlx::query(include_str!("../../sql/blobs/write_chunk.sql"))
            .bind(id)
            .bind(seq as i32)
            .bind(chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

impl Store {
    /// Reads a whole blob.
    pub async fn blob_read(&self, id: BlobId) -> Result<Vec<u8>> {
        let rows = sqlx::query(include_str!("../../sql/blobs/read.sql")).bind(id).fetch_all(self.pool()).await?;
        let mut out = Vec::new();
        for row in rows {
            let chunk: Vec<u8> = row.try_get("data")?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
