{{/*
Names are fixed to "vmo-operator" unless overridden: the operator is a cluster singleton (its
ClusterRole, webhook configuration and VMOProfile are cluster-scoped), so a release-prefixed name
would only hide a second installation instead of preventing it.
*/}}
{{- define "vmo-operator.fullname" -}}
{{- default "vmo-operator" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vmo-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "vmo-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vmo-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "vmo-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vmo-operator.serviceAccountName" -}}
{{- default (include "vmo-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "vmo-operator.selectorLabels" -}}
app.kubernetes.io/name: vmo-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Objects of this chart are labelled managed-by Helm. They must never carry the operator's own
managed-by value ("vmo-operator"): the operator prunes objects with that label it did not render.
*/}}
{{- define "vmo-operator.labels" -}}
{{ include "vmo-operator.selectorLabels" . }}
app.kubernetes.io/part-of: vmo-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "vmo-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
"true" when admission requests must carry a client certificate from webhook.clientCA.
*/}}
{{- define "vmo-operator.webhookClientCA" -}}
{{- if and .Values.webhook.enabled (or .Values.webhook.clientCA.secret .Values.webhook.clientCA.configMap) -}}
true
{{- end -}}
{{- end -}}
