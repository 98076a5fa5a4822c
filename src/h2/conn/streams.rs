//! The stream half of [`Conn`]: HEADERS, CONTINUATION and DATA from the
//! client, gRPC message reassembly, and writing what waits for the peer's
//! windows. Split from `conn.rs` for size only.

use super::{Conn, Fin, Local, Stream, SELF_DEPENDENT};
use crate::h2::frame::{self, Head};
use crate::h2::hpack::{self, Request};
use crate::h2::{status, ConnError, ErrorCode, Event, Path};

/// Bytes of the gRPC message prefix (compressed flag, u32 length).
const PREFIX: usize = 5;

impl Conn {
    pub(super) fn on_headers(
        &mut self,
        head: Head,
        payload: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{EnhanceYourCalm, FrameSize, Protocol};
        if head.stream == 0 {
            return Err(ConnError::new(Protocol, "HEADERS on stream 0"));
        }
        if head.stream.is_multiple_of(2) {
            return Err(ConnError::new(Protocol, "HEADERS on an even stream id"));
        }
        let mut fragment = frame::unpad(&head, payload)
            .map_err(|_| ConnError::new(Protocol, "HEADERS padding too long"))?;
        let mut flags = head.flags & frame::FLAG_END_STREAM;
        if head.has(frame::FLAG_PRIORITY) {
            if fragment.len() < 5 {
                return Err(ConnError::new(
                    FrameSize,
                    "HEADERS too short for its priority",
                ));
            }
            if frame::u31_at(fragment, 0) == head.stream {
                flags |= SELF_DEPENDENT;
            }
            fragment = &fragment[5..];
        }
        if head.has(frame::FLAG_END_HEADERS) {
            return self.on_header_block(head.stream, flags, fragment, events, out);
        }
        if fragment.len() > self.limits.max_header_list as usize {
            return Err(ConnError::new(
                EnhanceYourCalm,
                "header block over the limit",
            ));
        }
        self.block = fragment.to_vec();
        self.block_stream = head.stream;
        self.block_flags = flags;
        Ok(())
    }

    pub(super) fn on_continuation(
        &mut self,
        head: Head,
        payload: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{EnhanceYourCalm, Protocol};
        if self.block_stream == 0 || head.stream != self.block_stream {
            return Err(ConnError::new(Protocol, "CONTINUATION without its HEADERS"));
        }
        if self.block.len() + payload.len() > self.limits.max_header_list as usize {
            return Err(ConnError::new(
                EnhanceYourCalm,
                "header block over the limit",
            ));
        }
        self.block.extend_from_slice(payload);
        if !head.has(frame::FLAG_END_HEADERS) {
            return Ok(());
        }
        let block = std::mem::take(&mut self.block);
        let stream = std::mem::replace(&mut self.block_stream, 0);
        self.on_header_block(stream, self.block_flags, &block, events, out)
    }

    /// A whole header block: a new request, or trailers on an open stream.
    fn on_header_block(
        &mut self,
        id: u32,
        flags: u8,
        block: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        let end_stream = flags & frame::FLAG_END_STREAM != 0;
        let max_list = self.limits.max_header_list;
        let compression = |_| ConnError::new(ErrorCode::Compression, "bad header block");
        if let Some(i) = self.find(id) {
            let trailers = self
                .decoder
                .decode_request(block, true, max_list)
                .map_err(compression)?;
            if !self.streams[i].remote_open {
                self.stream_error(id, ErrorCode::StreamClosed, events, out);
            } else if !end_stream || trailers.malformed.is_some() || flags & SELF_DEPENDENT != 0 {
                self.stream_error(id, ErrorCode::Protocol, events, out);
            } else {
                self.remote_end(i, events, out);
            }
            return Ok(());
        }
        if id <= self.max_stream {
            // Only the highest id is remembered: HEADERS on it is a closed
            // stream; on a lower one that is not open we cannot tell closed
            // from skipped, and both are connection errors.
            return Err(if id == self.max_stream {
                ConnError::new(ErrorCode::StreamClosed, "HEADERS on a closed stream")
            } else {
                ConnError::new(ErrorCode::Protocol, "stream id lower than a previous one")
            });
        }
        self.max_stream = id;
        let req = self
            .decoder
            .decode_request(block, false, max_list)
            .map_err(compression)?;
        if flags & SELF_DEPENDENT != 0 || req.malformed.is_some() {
            frame::write_rst_stream(out, id, ErrorCode::Protocol);
            return Ok(());
        }
        if self.goaway_sent || self.streams.len() >= self.limits.max_concurrent_streams as usize {
            frame::write_rst_stream(out, id, ErrorCode::RefusedStream);
            return Ok(());
        }
        self.open(id, end_stream, req, events, out);
        Ok(())
    }

    /// A valid request: a gRPC stream for the application, or one we answer.
    fn open(
        &mut self,
        id: u32,
        end_stream: bool,
        req: Request,
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) {
        let window = self.stream_window();
        let stream = Stream {
            id,
            remote_open: !end_stream,
            local: Local::Idle,
            visible: false,
            fin: Fin::No,
            send: crate::h2::flow::SendWindow::new(self.peer_initial_window),
            recv: crate::h2::flow::RecvWindow::new(window),
            inbound: Vec::new(),
            outbound: Vec::new(),
            out_sent: 0,
            content_length: req.content_length,
            data_len: 0,
        };
        // Ids only grow, so pushing keeps the table sorted.
        if self.streams.len() == self.streams.capacity() {
            self.streams.reserve_exact(1);
        }
        self.streams.push(stream);
        let i = self.streams.len() - 1;
        let grpc = req
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with(b"application/grpc"));
        if req.too_large {
            self.grpc_error(
                i,
                status::RESOURCE_EXHAUSTED,
                "header list too large",
                events,
                out,
            );
        } else if req.method.as_deref() != Some(b"POST") {
            self.answer_plain(i, 405, out);
        } else if !grpc {
            self.answer_plain(i, 415, out);
        } else if end_stream && req.content_length.is_some_and(|n| n != 0) {
            self.stream_error(id, ErrorCode::Protocol, events, out);
        } else {
            self.streams[i].visible = true;
            let path = Path::from_bytes(req.path.as_deref().unwrap_or_default());
            events.push(Event::Open { stream: id, path });
            if end_stream {
                events.push(Event::End { stream: id });
            }
        }
    }

    /// Answers a request that is not gRPC: `status` and a short text body.
    fn answer_plain(&mut self, i: usize, status: u16, out: &mut Vec<u8>) {
        let mut block = Vec::new();
        hpack::write_response_head(&mut block, status, b"text/plain; charset=utf-8");
        let id = self.streams[i].id;
        self.write_block(id, 0, &block, out);
        let s = &mut self.streams[i];
        s.local = Local::Open;
        s.outbound = super::NOT_GRPC.to_vec();
        s.fin = Fin::Data;
        self.flush(i, out);
    }

    pub(super) fn on_data(
        &mut self,
        head: Head,
        payload: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnError> {
        use ErrorCode::{FlowControl, Protocol};
        if head.stream == 0 {
            return Err(ConnError::new(Protocol, "DATA on stream 0"));
        }
        let data = frame::unpad(&head, payload)
            .map_err(|_| ConnError::new(Protocol, "DATA padding too long"))?;
        if head.stream > self.max_stream {
            return Err(ConnError::new(Protocol, "DATA on an idle stream"));
        }
        let n = payload.len() as u32;
        self.recv
            .charge(n)
            .map_err(|_| ConnError::new(FlowControl, "connection window overrun"))?;
        if let Some(inc) = self.recv.release(self.conn_window()) {
            frame::write_window_update(out, 0, inc);
        }
        let Some(i) = self.find(head.stream) else {
            frame::write_rst_stream(out, head.stream, ErrorCode::StreamClosed);
            return Ok(());
        };
        if !self.streams[i].remote_open {
            self.stream_error(head.stream, ErrorCode::StreamClosed, events, out);
            return Ok(());
        }
        if self.streams[i].recv.charge(n).is_err() {
            self.stream_error(head.stream, FlowControl, events, out);
            return Ok(());
        }
        let end_stream = head.has(frame::FLAG_END_STREAM);
        let s = &mut self.streams[i];
        s.data_len += data.len() as u64;
        if s.content_length.is_some_and(|cl| s.data_len > cl) {
            self.stream_error(head.stream, Protocol, events, out);
            return Ok(());
        }
        if s.visible && !self.take_messages(i, data, events, out) {
            return Ok(());
        }
        if end_stream {
            self.remote_end(i, events, out);
            return Ok(());
        }
        let size = self.stream_window();
        if let Some(inc) = self.streams[i].recv.release(size) {
            frame::write_window_update(out, head.stream, inc);
        }
        Ok(())
    }

    /// Adds DATA to the stream's message buffer and emits every whole
    /// message; false if the stream was answered with an error and is gone.
    fn take_messages(
        &mut self,
        i: usize,
        data: &[u8],
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) -> bool {
        let max = self.limits.max_message;
        // What the other streams hold: at most `max_concurrent_streams`
        // lengths to add, once per DATA frame.
        let others: usize = self
            .streams
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, s)| s.inbound.len())
            .sum();
        let s = &mut self.streams[i];
        let id = s.id;
        s.inbound.extend_from_slice(data);
        while s.inbound.len() >= PREFIX {
            let flag = s.inbound[0];
            let len = frame::u32_at(&s.inbound, 1) as usize;
            let refusal = match flag {
                0 if len > max => {
                    Some((status::RESOURCE_EXHAUSTED, "message larger than the limit"))
                }
                0 => None,
                1 => Some((
                    status::UNIMPLEMENTED,
                    "compressed messages are not supported",
                )),
                _ => Some((status::INTERNAL, "bad message flag")),
            };
            if let Some((code, why)) = refusal {
                self.grpc_error(i, code, why, events, out);
                return false;
            }
            let end = PREFIX + len;
            if s.inbound.len() < end {
                // No reserve for the announced length: a 5-byte prefix must
                // not make us allocate max_message; the buffer grows with
                // what actually arrives.
                break;
            }
            let bytes = if s.inbound.len() == end {
                let mut whole = std::mem::take(&mut s.inbound);
                whole.drain(..PREFIX);
                whole
            } else {
                let bytes = s.inbound[PREFIX..end].to_vec();
                s.inbound.drain(..end);
                bytes
            };
            events.push(Event::Message { stream: id, bytes });
        }
        if s.inbound.is_empty() {
            s.inbound = Vec::new();
        }
        if others + s.inbound.len() > self.limits.max_partial_bytes {
            // Whole messages are out; what stays would be held too long.
            self.grpc_error(
                i,
                status::RESOURCE_EXHAUSTED,
                "too many large messages at once",
                events,
                out,
            );
            return false;
        }
        true
    }

    /// The client's END_STREAM (on DATA or trailers).
    fn remote_end(&mut self, i: usize, events: &mut Vec<Event>, out: &mut Vec<u8>) {
        let s = &mut self.streams[i];
        s.remote_open = false;
        let id = s.id;
        if s.content_length.is_some_and(|cl| cl != s.data_len) {
            self.stream_error(id, ErrorCode::Protocol, events, out);
            return;
        }
        if s.visible {
            if !s.inbound.is_empty() {
                self.grpc_error(
                    i,
                    status::INTERNAL,
                    "stream ended inside a message",
                    events,
                    out,
                );
                return;
            }
            events.push(Event::End { stream: id });
        }
        if s.local == Local::Done {
            self.remove(i);
        }
    }

    /// Ends stream `i` at once with a grpc-status (trailers-only if no
    /// headers were sent), dropping what was queued; resets it with
    /// NO_ERROR if the client is still sending.
    pub(super) fn grpc_error(
        &mut self,
        i: usize,
        code: u32,
        message: &str,
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) {
        let s = &mut self.streams[i];
        let (id, visible, remote_open) = (s.id, s.visible, s.remote_open);
        let mut block = Vec::new();
        if s.local == Local::Idle {
            hpack::write_response_head(&mut block, 200, b"application/grpc");
        }
        hpack::write_grpc_status(&mut block, code, message);
        self.write_block(id, frame::FLAG_END_STREAM, &block, out);
        if remote_open {
            frame::write_rst_stream(out, id, ErrorCode::NoError);
        }
        if visible {
            events.push(Event::Reset { stream: id });
        }
        self.remove(i);
    }

    /// RST_STREAM `code` on stream `id` (open or not); forgets it.
    pub(super) fn stream_error(
        &mut self,
        id: u32,
        code: ErrorCode,
        events: &mut Vec<Event>,
        out: &mut Vec<u8>,
    ) {
        frame::write_rst_stream(out, id, code);
        if let Some(i) = self.find(id) {
            if self.streams[i].visible {
                events.push(Event::Reset { stream: id });
            }
            self.remove(i);
        }
    }

    /// Writes what stream `i` has waiting, within the windows, and its end.
    pub(super) fn flush(&mut self, i: usize, out: &mut Vec<u8>) {
        let max_frame = self.peer_max_frame as usize;
        let s = &mut self.streams[i];
        while s.out_sent < s.outbound.len() {
            let pending = s.outbound.len() - s.out_sent;
            let n = pending
                .min(self.send.available())
                .min(s.send.available())
                .min(max_frame);
            if n == 0 {
                return;
            }
            let last = n == pending && s.fin == Fin::Data;
            let flags = if last { frame::FLAG_END_STREAM } else { 0 };
            frame::write_head(out, n, frame::DATA, flags, s.id);
            out.extend_from_slice(&s.outbound[s.out_sent..s.out_sent + n]);
            s.out_sent += n;
            self.send.spend(n);
            s.send.spend(n);
            if last {
                s.fin = Fin::No;
                s.outbound = Vec::new();
                s.out_sent = 0;
                self.close_local(i, out);
                return;
            }
        }
        s.outbound = Vec::new();
        s.out_sent = 0;
        match std::mem::replace(&mut s.fin, Fin::No) {
            Fin::No => {}
            Fin::Data => {
                frame::write_head(out, 0, frame::DATA, frame::FLAG_END_STREAM, s.id);
                self.close_local(i, out);
            }
            Fin::Trailers(block) => {
                let id = s.id;
                self.write_block(id, frame::FLAG_END_STREAM, &block, out);
                self.close_local(i, out);
            }
        }
    }

    /// Flushes every stream (after a window grew); streams that finish
    /// leave the table, so walk by id.
    pub(super) fn flush_all(&mut self, out: &mut Vec<u8>) {
        let mut next = 0;
        while let Some(id) = self.streams.iter().map(|s| s.id).find(|&id| id >= next) {
            next = id + 1;
            if self.send.available() == 0 {
                return;
            }
            if let Some(i) = self.find(id) {
                self.flush(i, out);
            }
        }
    }

    /// Our END_STREAM is written: forget the stream if the client is done
    /// too; reset a gRPC stream the client still sends on (NO_ERROR).
    fn close_local(&mut self, i: usize, out: &mut Vec<u8>) {
        let s = &mut self.streams[i];
        s.local = Local::Done;
        if !s.remote_open {
            self.remove(i);
        } else if s.visible {
            frame::write_rst_stream(out, s.id, ErrorCode::NoError);
            self.remove(i);
        }
    }

    /// Writes one of our header blocks; the connection's first opens with
    /// a dynamic table size update to 0 (so we never need another).
    pub(super) fn write_block(&mut self, id: u32, flags: u8, block: &[u8], out: &mut Vec<u8>) {
        let max_frame = self.peer_max_frame as usize;
        if self.table_zeroed {
            frame::write_header_block(out, id, flags, block, max_frame);
        } else {
            self.table_zeroed = true;
            let mut first = Vec::with_capacity(block.len() + 1);
            first.push(hpack::SIZE_UPDATE_ZERO);
            first.extend_from_slice(block);
            frame::write_header_block(out, id, flags, &first, max_frame);
        }
    }
}
