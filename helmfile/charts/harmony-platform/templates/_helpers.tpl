{{- define "harmony-platform.labels" -}}
app.kubernetes.io/name: harmony-platform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: harmony
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
harmony.chat/environment: {{ .Values.environment }}
{{- end -}}
