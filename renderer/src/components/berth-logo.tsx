/** Berth's mark: a container resting at a quay. Decorative; the text next to it names the app. */
export function BerthLogo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" fill="var(--mantine-primary-color-filled)" />
      <path d="M5 19.5h22l-3 5.5H8z" fill="#fff" />
      <rect x="8.5" y="10.5" width="6.5" height="7" rx="1.2" fill="#a5d8ff" />
      <rect x="16.5" y="7" width="7" height="10.5" rx="1.2" fill="#fff" />
    </svg>
  );
}
