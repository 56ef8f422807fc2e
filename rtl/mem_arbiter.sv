// Two requesters on one burst read port, one burst at a time. Requester 0 goes first when
// both ask; a request offered to the port stays offered (the same requester's) until the port
// takes it, and the grant holds until the burst's last word has been handed over. The read
// data is wired to both requesters; only the granted one sees rsp_valid.
module mem_arbiter (
    input  logic            clk,
    input  logic            rst_n,
    input  logic [1:0]      req_valid,
    output logic [1:0]      req_ready,
    input  logic [1:0][31:0] req_addr,
    input  logic [1:0][15:0] req_beats,
    output logic [1:0]      rsp_valid,
    input  logic [1:0]      rsp_ready,
    output logic            m_req_valid,
    input  logic            m_req_ready,
    output logic [31:0]     m_req_addr,
    output logic [15:0]     m_req_beats,
    input  logic            m_rsp_valid,
    output logic            m_rsp_ready
);
  logic busy, own;           // a burst is in flight, and whose
  logic pend, pend_own;      // a request is offered and not yet taken, and whose
  logic [15:0] left;         // words of the burst still to come
  wire pick = pend ? pend_own : !req_valid[0];
  assign m_req_valid = !busy && (pend || (|req_valid));
  assign m_req_addr = req_addr[pick];
  assign m_req_beats = req_beats[pick];
  assign req_ready[0] = m_req_valid && m_req_ready && !pick;
  assign req_ready[1] = m_req_valid && m_req_ready && pick;
  assign rsp_valid[0] = busy && !own && m_rsp_valid;
  assign rsp_valid[1] = busy && own && m_rsp_valid;
  assign m_rsp_ready = busy && rsp_ready[own];

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      busy <= 1'b0;
      own <= 1'b0;
      pend <= 1'b0;
      pend_own <= 1'b0;
      left <= '0;
    end else if (m_req_valid) begin
      if (m_req_ready) begin
        busy <= (m_req_beats != 16'd0);
        own <= pick;
        left <= m_req_beats;
        pend <= 1'b0;
      end else begin
        pend <= 1'b1;
        pend_own <= pick;
      end
    end else if (busy && m_rsp_valid && m_rsp_ready) begin
      left <= left - 1'b1;
      if (left == 16'd1) busy <= 1'b0;
    end
  end
endmodule
