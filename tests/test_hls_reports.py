"""`sievit synth` report parsing on small synthetic FORMAT SAMPLES of Vitis HLS's csynth.xml
and csynth.rpt (written here in the layout Vitis uses; the numbers are made up, not results
of a synthesis run), for both flows' report locations, and its errors."""
import json

from test_cli import fail_line, run

XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2024.1</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>zynquplus</ProductFamily><Part>xczu9eg-ffvb1156-2-e</Part>
    <TopModelName>sievit_top</TopModelName><TargetClockPeriod>3.33</TargetClockPeriod>
    <ClockUncertainty>0.90</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>no</PipelineType>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>2.433</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit><Best-caseLatency>1234</Best-caseLatency>
      <Average-caseLatency>3000</Average-caseLatency><Worst-caseLatency>5678</Worst-caseLatency>
      <Interval-min>1235</Interval-min><Interval-max>5679</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>12</BRAM_18K><DSP>20</DSP><FF>3456</FF><LUT>7890</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>1824</BRAM_18K><DSP>2520</DSP><FF>548160</FF><LUT>274080</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
  <RTLDesignHierarchy><TopModule><ModuleName>sievit_top</ModuleName></TopModule></RTLDesignHierarchy>
</profile>
"""

RPT = """

================================================================
== Vitis HLS Report for 'mlp_top'
================================================================
* Date:           Mon Jan  1 00:00:00 2024

* Version:        2024.1 (Build 5069499 on May 21 2024)
* Project:        prj_mlp_top
* Solution:       solution1 (Vivado IP Flow Target)
* Product family: zynquplus
* Target device:  xczu9eg-ffvb1156-2-e


================================================================
== Performance Estimates
================================================================
+ Timing:
    * Summary:
    +--------+---------+----------+------------+
    |  Clock |  Target | Estimated| Uncertainty|
    +--------+---------+----------+------------+
    |ap_clk  |  3.33 ns|  2.555 ns|     0.90 ns|
    +--------+---------+----------+------------+

+ Latency:
    * Summary:
    +---------+---------+-----------+-----------+-------+-------+----------+
    |  Latency (cycles) |   Latency (absolute)  |    Interval   | Pipeline |
    |   min   |   max   |    min    |    max    |  min  |  max  |   Type   |
    +---------+---------+-----------+-----------+-------+-------+----------+
    |      321|    98765|   1.070 us|   0.329 ms|    300|  98000|  dataflow|
    +---------+---------+-----------+-----------+-------+-------+----------+

================================================================
== Utilization Estimates
================================================================
* Summary:
+---------------------+---------+------+---------+---------+-----+
|         Name        | BRAM_18K|  DSP |    FF   |   LUT   | URAM|
+---------------------+---------+------+---------+---------+-----+
|DSP                  |        -|     -|        -|        -|    -|
|Instance             |        8|    16|     2000|     5000|    0|
+---------------------+---------+------+---------+---------+-----+
|Total                |       10|    17|     2100|     5200|    0|
+---------------------+---------+------+---------+---------+-----+
|Available            |     1824|  2520|   548160|   274080|    0|
+---------------------+---------+------+---------+---------+-----+
|Utilization (%)      |       ~0|    ~0|       ~0|        1|    0|
+---------------------+---------+------+---------+---------+-----+
"""

UNKNOWN = RPT.replace("|      321|    98765|", "|        ?|        ?|").replace("|    300|  98000|", "|      ?|      ?|")


def test_xml_report_fields(tmp_path):
    from sievit.hls.synth import parse_report
    (tmp_path / "csynth.xml").write_text(XML)
    r = parse_report(tmp_path / "csynth.xml")
    assert r["top"] == "sievit_top" and r["part"] == "xczu9eg-ffvb1156-2-e"
    assert r["latency_cycles"] == {"best": 1234, "worst": 5678}
    assert r["interval_cycles"] == {"min": 1235, "max": 5679}
    assert r["resources"] == {"BRAM_18K": 12, "DSP": 20, "FF": 3456, "LUT": 7890, "URAM": 0}
    assert r["available"]["LUT"] == 274080 and r["estimated_clock_ns"] == "2.433"


def test_rpt_report_fields_and_unknown_latency(tmp_path):
    from sievit.hls.synth import parse_report
    (tmp_path / "csynth.rpt").write_text(RPT)
    r = parse_report(tmp_path / "csynth.rpt")
    assert r["top"] == "mlp_top" and r["part"] == "xczu9eg-ffvb1156-2-e"
    assert r["latency_cycles"] == {"best": 321, "worst": 98765}
    assert r["interval_cycles"] == {"min": 300, "max": 98000}
    assert r["resources"] == {"BRAM_18K": 10, "DSP": 17, "FF": 2100, "LUT": 5200, "URAM": 0}
    assert r["available"]["DSP"] == 2520
    assert (r["target_clock_ns"], r["estimated_clock_ns"]) == ("3.33", "2.555")
    (tmp_path / "u.rpt").write_text(UNKNOWN)
    u = parse_report(tmp_path / "u.rpt")
    assert u["latency_cycles"] == {"best": None, "worst": None}


def test_report_locations_of_both_flows(tmp_path):
    from sievit.hls.synth import report_dir
    assert report_dir(tmp_path, "sievit_top", "tcl", None) == \
        tmp_path / "hls_prj" / "prj_sievit_top" / "solution1" / "syn" / "report"
    assert report_dir(tmp_path, "mlp_top", "vitis", tmp_path / "w") == tmp_path / "w" / "hls" / "syn" / "report"


def test_cli_parses_a_report_and_rejects_bad_ones(tmp_path):
    (tmp_path / "csynth.rpt").write_text(RPT)
    res = run("synth", tmp_path, "--report", tmp_path / "csynth.rpt", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["latency_cycles"] == {"best": 321, "worst": 98765}
    (tmp_path / "bad.rpt").write_text("not a report\n")
    res = run("synth", tmp_path, "--report", tmp_path / "bad.rpt")
    assert res.returncode == 2 and "not a csynth.rpt report" in fail_line(res)
    (tmp_path / "bad.xml").write_text("<profile/>")
    res = run("synth", tmp_path, "--report", tmp_path / "bad.xml")
    assert res.returncode == 2 and "not a csynth.xml report" in fail_line(res)
    res = run("synth", tmp_path, "--report", tmp_path / "missing.xml")
    assert res.returncode == 2 and "does not exist" in fail_line(res)
