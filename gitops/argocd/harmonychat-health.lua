-- Argo CD health of a HarmonyChat (harmony.chat/v1alpha1), read from the
-- status the operator writes (operator/src/status.rs):
--   no status yet, or observedGeneration behind metadata.generation: Progressing
--   Degraded=True: Degraded, with the condition's message
--   Ready=True: Healthy
--   otherwise (Progressing=True while rolling out): Progressing
-- Tested against status objects the operator's own code produces
-- (gitops/argocd/health_test.py, health-fixtures/).
local health = {}
local generation = obj.metadata.generation
local status = obj.status

if status == nil or status.observedGeneration == nil then
  health.status = "Progressing"
  health.message = "Waiting for the operator to report a status"
  return health
end
if generation ~= nil and status.observedGeneration < generation then
  health.status = "Progressing"
  health.message = "Waiting for the operator to reconcile generation " .. string.format("%d", generation)
    .. " (status is of generation " .. string.format("%d", status.observedGeneration) .. ")"
  return health
end

local conditions = {}
for _, condition in ipairs(status.conditions or {}) do
  conditions[condition.type] = condition
end
local degraded, ready, progressing = conditions["Degraded"], conditions["Ready"], conditions["Progressing"]

if degraded ~= nil and degraded.status == "True" then
  health.status = "Degraded"
  health.message = degraded.message
elseif ready ~= nil and ready.status == "True" then
  health.status = "Healthy"
  health.message = ready.message
else
  health.status = "Progressing"
  if progressing ~= nil and progressing.status == "True" then
    health.message = progressing.message
  elseif ready ~= nil then
    health.message = ready.message
  else
    health.message = "Waiting for the operator to report a status"
  end
end
return health
