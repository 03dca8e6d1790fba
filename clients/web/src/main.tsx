// The Chime web app: signs in, then shows servers, channels and chats, and a chat view.
import { render } from 'preact'
import { App } from './ui/App.tsx'
import './styles.css'

render(<App />, document.getElementById('app')!)
