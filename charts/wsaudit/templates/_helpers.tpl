{{- define "wsaudit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wsaudit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wsaudit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "wsaudit.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wsaudit
{{- end -}}

{{- define "wsaudit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wsaudit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wsaudit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wsaudit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wsaudit.peering" -}}
{{- if gt (int .Values.replicaCount) 1 -}}{{ include "wsaudit.fullname" . }}{{- end -}}
{{- end -}}

{{/* Recreate with one replica: a RollingUpdate would run two standalone operators at once
(duplicate probes, racing status writes). With more replicas peering keeps one active. */}}
{{- define "wsaudit.strategy" -}}
{{- $strategy := deepCopy .Values.strategy -}}
{{- if not $strategy.type -}}
{{- $_ := set $strategy "type" (ternary "Recreate" "RollingUpdate" (eq (int .Values.replicaCount) 1)) -}}
{{- end -}}
{{- if eq $strategy.type "Recreate" -}}
{{- $_ := unset $strategy "rollingUpdate" -}}
{{- end -}}
{{- toYaml $strategy -}}
{{- end -}}

{{/* runAsUser, runAsGroup, fsGroup: each left out when null, for the platform to assign. */}}
{{- define "wsaudit.podIds" -}}
{{- $ids := dict -}}
{{- range $key := list "runAsUser" "runAsGroup" "fsGroup" -}}
{{- with index $.Values.securityContext $key -}}
{{- $_ := set $ids $key (int64 .) -}}
{{- end -}}
{{- end -}}
{{- with $ids }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "wsaudit.metricsService" -}}
{{ include "wsaudit.fullname" . }}-metrics
{{- end -}}

{{- define "wsaudit.webhookService" -}}
{{ include "wsaudit.fullname" . }}-webhook
{{- end -}}

{{- define "wsaudit.webhookSecret" -}}
{{ include "wsaudit.fullname" . }}-webhook-tls
{{- end -}}

{{/* Rules for the resources wsaudit handles; used in a ClusterRole, or a Role per namespace. */}}
{{- define "wsaudit.watchRules" -}}
- apiGroups: [wsaudit.io]
  resources: [websocketendpoints]
  verbs: [get, list, watch, patch]
- apiGroups: [wsaudit.io]
  resources: [websocketendpoints/status]
  verbs: [get, patch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# Read-only: GKE and Kong rules read timeouts from the backend Service (and BackendConfig);
# the probe guard lists a namespace's Services to let its endpoints reach their own ClusterIPs.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list]
- apiGroups: [cloud.google.com]
  resources: [backendconfigs]
  verbs: [get]
{{- end -}}
