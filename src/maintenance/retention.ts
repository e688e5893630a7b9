/**
 * Retention periods of the maintenance jobs, read from `application_settings.settings_json`
 * (`share_link_retention_days`, `trash_retention_days`), 30 days when unset or not a number ≥ 0.
 */
import type { Settings } from '../settings/service.js';

/** Days kept when `settings_json` does not say. */
export const DEFAULT_RETENTION_DAYS = 30;

/** The `settings_json` keys of the retention periods (days). */
export type RetentionKey = 'share_link_retention_days' | 'trash_retention_days';

/**
 * The retention in days under `key` of `settings_json`, or `DEFAULT_RETENTION_DAYS`.
 * @example retentionDays(settings, 'trash_retention_days') // 30
 */
export function retentionDays(settings: Pick<Settings, 'settingsJson'>, key: RetentionKey): number {
  const v = (settings.settingsJson ?? {})[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : DEFAULT_RETENTION_DAYS;
}

/** `now` minus `days` days. */
export function cutoff(now: Date, days: number): Date {
  return new Date(now.getTime() - days * 86_400_000);
}
