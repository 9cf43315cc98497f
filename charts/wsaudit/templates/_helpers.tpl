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

{{/* Every replica joins the kopf peering, one replica too: an upgrade from one replica to
several rolls the new pods out beside the old one, and only peering keeps one of them active
(a standalone operator ignores peers). */}}
{{- define "wsaudit.peering" -}}
{{ include "wsaudit.fullname" . }}
{{- end -}}

{{/* Recreate with one replica: the old pod stops before the new one starts (no pause while
peers hand over). With more replicas, RollingUpdate: peering keeps one active. */}}
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

{{/* The pods' security context: runAsUser, runAsGroup, fsGroup each left out when null, for
the platform to assign. */}}
{{- define "wsaudit.podSecurityContext" -}}
runAsNonRoot: true
{{- range $key := list "runAsUser" "runAsGroup" "fsGroup" }}
{{- with index $.Values.securityContext $key }}
{{ $key }}: {{ int64 . }}
{{- end }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "wsaudit.metricsService" -}}
{{ include "wsaudit.fullname" . }}-metrics
{{- end -}}

{{- define "wsaudit.webhookService" -}}
{{ include "wsaudit.fullname" . }}-webhook
{{- end -}}

{{/* The Secret the operator mounts. The hook Jobs' Secret has a name of its own: Helm deletes
the generated one when a release switches to source=job, after the pre-upgrade hook ran. */}}
{{- define "wsaudit.webhookSecret" -}}
{{ include "wsaudit.fullname" . }}-webhook-{{ ternary "job-tls" "tls" (eq .Values.webhook.certificate.source "job") }}
{{- end -}}

{{- define "wsaudit.webhookCertificateJob" -}}
{{ include "wsaudit.fullname" . }}-webhook-certificate
{{- end -}}

{{- define "wsaudit.image" -}}
"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
{{- end -}}

{{/* The containers' security context: the restricted Pod Security profile. */}}
{{- define "wsaudit.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
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
# list: at start, the latest Event wsaudit posted on each Ingress, so a restart does not
# post them all again.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch, list]
# Read-only: GKE and Kong rules read timeouts from the backend Service (and BackendConfig);
# the probe guard lists a namespace's Services to let its endpoints reach their own ClusterIPs.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list]
- apiGroups: [cloud.google.com]
  resources: [backendconfigs]
  verbs: [get]
{{- end -}}
