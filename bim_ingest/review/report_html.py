"""The review as one HTML page (no outside requests)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>审查报告 Review {{ r.id }} · {{ r.project_code }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.error{color:#b00020}.warning{color:#a06000}.ok{color:#1b7d1b}
code{font-size:12px}
</style></head><body>
<h1>数字化审图报告 Digital drawing review {{ r.id }}</h1>
<table>
<tr><th>项目 Project</th><td>{{ r.project_code }}</td>
<th>状态 Status</th><td>{{ r.status_label }} ({{ r.status }})</td></tr>
<tr><th>模型 Model</th><td>{{ r.file_name }} · {{ r.schema }} · version {{ r.model_version_id }}</td>
<th>轮次 Round</th><td>{{ r.round }}</td></tr>
<tr><th>结论 Result</th><td colspan="3" class="{{ 'ok' if rep.passed else 'error' }}">
{{ '通过检查 all checks passed' if rep.passed else '%d errors, %d warnings on %d elements'|format(
   rep.counts.errors, rep.counts.warnings, rep.counts.elements) }}</td></tr>
{% if rep.decision %}<tr><th>决定 Decision</th><td colspan="3">{{ rep.decision.action }} by {{ rep.decision.by }}
 at {{ rep.decision.at }}{% if rep.decision.comment %}: {{ rep.decision.comment }}{% endif %}</td></tr>{% endif %}
</table>
<h2>规划条件 Planning checks</h2>
<p>Parcel {{ rep.planning.site.parcel }}; ground {{ rep.planning.site.ground_h_orthometric }} m (orthometric).</p>
<table><tr><th>Check</th><th>Measured</th><th>Limit</th><th>Result</th><th>Elements</th></tr>
{% for c in rep.planning.checks %}<tr><td>{{ c.rule }}</td><td>{{ c.measured }} {{ c.unit }}</td><td>{{ c.limit }}</td>
<td class="{{ 'ok' if c.passed else ('error' if c.passed is false else '') }}">{{
  'pass' if c.passed else ('fail' if c.passed is false else 'no limit') }}</td>
<td>{% for g in c.elements %}<code>{{ g }}</code> {% endfor %}</td></tr>{% endfor %}
</table>
<h2>信息检查 Information (IDS: {{ rep.ids.title }})</h2>
<table><tr><th>Specification</th><th>Applicable</th><th>Failed</th><th>Result</th></tr>
{% for s in rep.ids.specifications %}<tr><td>{{ s.rule }}</td><td>{{ s.applicable }}</td><td>{{ s.failed }}</td>
<td class="{{ 'ok' if s.passed else 'error' }}">{{ 'pass' if s.passed else 'fail' }}</td></tr>{% endfor %}
</table>
<h2>碰撞检查 Clashes</h2>
<table><tr><th>Set</th><th>Clashes</th></tr>
{% for s in rep.clashes.model %}<tr><td>{{ s.set }}</td><td>{{ s.clashes }}</td></tr>{% endfor %}
{% for s in rep.clashes.city %}<tr><td>{{ s.rule }}</td><td>{{ s.clashes }}</td></tr>{% endfor %}
</table>
<h2>版本对比 Changes since version {{ rep.diff.from_version_id or '—' }}</h2>
<p>added {{ rep.diff.counts.added }}, removed {{ rep.diff.counts.removed }}, changed {{ rep.diff.counts.changed }}</p>
<h2>问题 Issues ({{ r.issues|length }})</h2>
<table><tr><th>#</th><th>Rule</th><th>Element</th><th>Measured</th><th>Limit</th><th>Message</th><th>Comment</th></tr>
{% for i in r.issues %}<tr class="{{ i.severity }}"><td>{{ i.id }}</td><td>{{ i.rule }}</td>
<td><code>{{ i.global_id }}</code><br>{{ i.ifc_class }} {{ i.name or '' }}</td>
<td>{{ i.measured if i.measured is not none else '' }} {{ i.unit or '' }}</td>
<td>{{ i.limit if i.limit is not none else '' }}</td><td>{{ i.message }}</td>
<td>{{ i.comment or '' }}{% if i.resolved %} ✔ resolved{% endif %}</td></tr>{% endfor %}
</table>
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True))
_template = _env.from_string(_TEMPLATE)


def review_html(document: dict[str, Any]) -> str:
    """The HTML page for a review document (see :func:`service.review_document`)."""
    return _template.render(r=document, rep=document["report"] or {})
