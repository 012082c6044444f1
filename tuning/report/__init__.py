"""The report: read an experiment directory and render it, offline, without Ray and without unpickling.

load: trials and results from plain text files, ranked; formats: table, markdown, json, csv, arrow, html
dispatch; text: cell and status wording; html and svg: the HTML page and its charts; importance:
parameter importance; compare: two experiments side by side; export: one trial's checkpoint and config;
baseline: the baseline trial and what the search bought over it.
Imports only the bottom modules: never torch, Lightning or Ray.
"""

from tuning.report.compare import compare
from tuning.report.export import export_trial
from tuning.report.formats import FORMATS, render, run_report
from tuning.report.load import Report, TrialRow, finite, load_report, read_results

__all__ = [
    "FORMATS",
    "Report",
    "TrialRow",
    "compare",
    "export_trial",
    "finite",
    "load_report",
    "read_results",
    "render",
    "run_report",
]
