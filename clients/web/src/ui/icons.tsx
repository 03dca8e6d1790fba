// Line icons drawn as inline SVG (no icon font, no emoji font needed); each is decorative:
// the button that holds it carries the label.
const PATHS = {
  chats: 'M4 5h16v11H9l-5 4z',
  search: 'M10.5 4a6.5 6.5 0 1 1 0 13a6.5 6.5 0 0 1 0-13zM15.5 15.5L20 20',
  userPlus: 'M9 11a4 4 0 1 0 0-8a4 4 0 0 0 0 8zM2 21c0-4 3-6 7-6s7 2 7 6M19 8v6M16 11h6',
  users: 'M8 11a3.5 3.5 0 1 0 0-7a3.5 3.5 0 0 0 0 7zM1.5 20c0-3.5 2.5-5.5 6.5-5.5s6.5 2 6.5 5.5M16 4.3a3.5 3.5 0 0 1 0 6.4M17.5 14.7c3 .5 5 2.3 5 5.3',
  plus: 'M12 5v14M5 12h14',
  join: 'M10 17l5-5l-5-5M15 12H3M14 4h5a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-5',
  settings: 'M12 15a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM12 2v3M12 19v3M4.2 4.2l2.1 2.1M17.7 17.7l2.1 2.1M2 12h3M19 12h3M4.2 19.8l2.1-2.1M17.7 6.3l2.1-2.1',
  bell: 'M6 16V11a6 6 0 1 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0',
  edit: 'M4 20h4L19 9l-4-4L4 16zM14 6l4 4',
  signOut: 'M15 17l5-5l-5-5M20 12H9M10 4H5a1 1 0 0 0-1 1v14a1 1 0 0 0 1 1h5',
  attach: 'M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.7 17.2a1.7 1.7 0 0 1-2.4-2.4L15 7',
  reply: 'M9 7L4 12l5 5M4 12h11a5 5 0 0 1 5 5v1',
  smile: 'M12 21a9 9 0 1 0 0-18a9 9 0 0 0 0 18zM8.5 14.5c1.8 2 5.2 2 7 0M9 9.5h.01M15 9.5h.01',
  trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13',
  back: 'M15 5l-7 7l7 7',
  close: 'M6 6l12 12M18 6L6 18',
  send: 'M4 12l16-8l-6 16l-3-7z',
}

export type IconName = keyof typeof PATHS

export function Icon({ name, size = 20 }: { name: IconName; size?: number }) {
  return (
    <svg class="svg-icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false"
      fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d={PATHS[name]} />
    </svg>
  )
}
