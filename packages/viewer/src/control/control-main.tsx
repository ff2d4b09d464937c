import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { ControlApp } from './control-app.tsx'
import '../styles.css'
import './control.css'

const root = document.getElementById('root')
if (root) {
  createRoot(root).render(
    <StrictMode>
      <ControlApp />
    </StrictMode>,
  )
}
